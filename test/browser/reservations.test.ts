/**
 * Reservations in a real browser (Debian's chromium) against a real lab: a tester borrows an
 * idle host from the hosts page (Reserve 1 h), sees who holds it and how to connect,
 * extends it and releases it; a failed job's page shows its reservation with the same
 * buttons. A running job is extended from its page (Extend by 30 min), and an operator
 * power-cycles a host whose config has a powerCommand from the hosts page. Under the
 * dashboard's CSP, with no violation; screenshots under test-output/screenshots/.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';
import { collectProblems, launchChromium, type Chromium } from './chromium.js';

let lab: TestLab;
let browser: Chromium;
const problems: string[] = [];

beforeAll(async () => {
  [lab, browser] = await Promise.all([
    TestLab.start({ name: 'browser-reservations', hosts: [{ id: 'b1' }] }),
    launchChromium(),
  ]);
  collectProblems(browser.page, problems);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await lab?.stop();
});

describe('dashboard: reservations', () => {
  it("borrows, extends and releases a host on the hosts page, and shows a failed job's reservation on its page", async () => {
    const { page } = browser;
    const state = async () => (await lab.host('b1'))?.state;
    await page.goto(`${lab.api.baseUrl}/hosts?token=${lab.tokens.submit}`);
    const row = page.locator('tr[data-host="b1"]');
    await row.getByRole('button', { name: 'Reserve 1 h' }).click();
    await row.locator('.reservation', { hasText: 'by tester' }).waitFor();
    expect(await state()).toBe('reserved');
    const until = (await lab.host('b1'))!.lease!.reservation!.until;
    await row.getByRole('button', { name: 'Extend 1 h' }).click();
    await waitFor(
      'the extension',
      async () => (await lab.host('b1'))?.lease?.reservation?.until === until + 3_600_000,
      15_000,
    );
    expect(await row.locator('.reservation pre.connect').innerText()).toMatch(/^address: /);
    await browser.screenshot('hosts-reserved');
    await row.getByRole('button', { name: 'Release' }).click();
    await waitFor('b1 back in the pool', async () => (await state()) === 'idle', 30_000);

    const { jobs } = await lab.submit({
      jobs: [osTest('broken', { FAIL_MODULE: 'login' }, { reserve: { when: 'failed' } })],
    });
    await waitFor('b1 reserved after the job', async () => (await state()) === 'reserved', 60_000);
    await page.goto(`${lab.api.baseUrl}/jobs/${jobs[0]!.id}`);
    const panel = page.locator('.reservation', { hasText: 'job `broken` failed' });
    await panel.waitFor();
    expect(await panel.locator('pre.connect').innerText()).toMatch(/work dir: .*\/jobs\/.*\/work/);
    await browser.screenshot('job-reserved');
    await panel.getByRole('button', { name: 'Release' }).click();
    await waitFor('b1 back in the pool', async () => (await state()) === 'idle', 30_000);
    expect(problems).toEqual([]);
  });

  it('extends a running job from its page, and power-cycles a host from the hosts page', async () => {
    const { page } = browser;
    const pdu = path.join(lab.dir, 'pdu.log');
    const config = path.join(lab.dir, 'b2.json');
    await fs.writeFile(
      config,
      JSON.stringify({ powerCommand: ['sh', '-c', `echo "outlet 3: $1" | tee -a ${pdu}`, 'pdu'] }),
    );
    await lab.startHost({ id: 'b2', config });

    const { jobs } = await lab.submit({
      jobs: [
        {
          name: 'long',
          workerClass: 'local',
          host: 'b1',
          runner: { command: ['sh', '-c', 'sleep 60'] },
          timeoutMs: 120_000,
        },
      ],
    });
    const jobId = jobs[0]!.id;
    await waitFor('the long job to run', async () => (await lab.api.job(jobId)).state === 'running', 60_000);
    await page.goto(`${lab.api.baseUrl}/jobs/${jobId}?token=${lab.tokens.submit}`);
    await page.getByRole('button', { name: 'Extend by 30 min' }).click();
    await waitFor('the extension', async () => (await lab.api.job(jobId)).extendedMs === 30 * 60_000, 15_000);
    await page.reload();
    expect(await page.locator('[data-extended-ms]').innerText()).toBe('extended by 30 min');
    // When the job stops now: its deadline, moved by the extension.
    const { deadline } = await lab.api.job(jobId);
    expect(await page.locator('[data-deadline]').getAttribute('datetime')).toBe(deadline);
    expect(await page.locator('[data-deadline]').innerText()).toMatch(/^stops at \d/);
    await browser.screenshot('job-extended');
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();

    await page.goto(`${lab.api.baseUrl}/hosts?token=${lab.tokens.operate}`);
    const row = page.locator('tr[data-host="b2"]');
    // b1 has no powerCommand: no power buttons on its row.
    expect(await page.locator('tr[data-host="b1"] [data-action^="power-"]').count()).toBe(0);
    await row.getByRole('button', { name: 'Power cycle' }).click();
    await page.getByText('b2: power cycle').first().waitFor();
    expect((await fs.readFile(pdu, 'utf8')).trim()).toBe('outlet 3: cycle');
    expect(problems).toEqual([]);
  });
});
