/**
 * Reservations in a real browser (Debian's chromium) against a real lab: a tester borrows an
 * idle host from the hosts page (Reserve 1 h), sees who holds it and how to connect,
 * extends it and releases it; a failed job's page shows its reservation with the same
 * buttons. Under the dashboard's CSP, with no violation; screenshots under
 * test-output/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';
import { launchChromium, type Chromium } from './chromium.js';

let lab: TestLab;
let browser: Chromium;
const problems: string[] = [];

beforeAll(async () => {
  [lab, browser] = await Promise.all([TestLab.start({ name: 'browser-reservations', hosts: [{ id: 'b1' }] }), launchChromium()]);
  browser.page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  browser.page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await lab?.stop();
});

describe('dashboard: reservations', () => {
  it('borrows, extends and releases a host on the hosts page, and shows a failed job\'s reservation on its page', async () => {
    const { page } = browser;
    const state = async () => (await lab.host('b1'))?.state;
    await page.goto(`${lab.api.baseUrl}/hosts?token=${lab.tokens.submit}`);
    const row = page.locator('tr[data-host="b1"]');
    await row.getByRole('button', { name: 'Reserve 1 h' }).click();
    await row.locator('.reservation', { hasText: 'by tester' }).waitFor();
    expect(await state()).toBe('reserved');
    const until = (await lab.host('b1'))!.lease!.reservation!.until;
    await row.getByRole('button', { name: 'Extend 1 h' }).click();
    await waitFor('the extension', async () => (await lab.host('b1'))?.lease?.reservation?.until === until + 3_600_000, 15_000);
    expect(await row.locator('.reservation pre.connect').innerText()).toMatch(/^address: /);
    await browser.screenshot('hosts-reserved');
    await row.getByRole('button', { name: 'Release' }).click();
    await waitFor('b1 back in the pool', async () => (await state()) === 'idle', 30_000);

    const { jobs } = await lab.submit({ jobs: [osTest('broken', { FAIL_MODULE: 'login' }, { reserve: { when: 'failed' } })] });
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
});
