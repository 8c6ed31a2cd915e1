/**
 * The delivery log and the audit log in a real browser (Debian's chromium) against a
 * real lab and a loopback receiver that refuses its first delivery with 503: the
 * Webhooks page shows the subscription, each delivery's attempts (503, then 200) and
 * re-sends one from a button; the hosts page shows who put a host into maintenance,
 * from where; a job's page shows who cancelled it. Under the dashboard's CSP, with no
 * violation; screenshots under test-output/screenshots/.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifyClient } from '../../src/api/notify-client.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';
import { collectProblems, launchChromium, type Chromium } from './chromium.js';

let lab: TestLab;
let browser: Chromium;
let receiver: http.Server;
let receiverUrl: string;
const answers = [503];
const received: string[] = [];
const problems: string[] = [];

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = answers.shift() ?? 200;
      received.push(`${String(req.headers['x-testbay-event'])} ${status}`);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  [lab, browser] = await Promise.all([
    TestLab.start({
      name: 'browser-webhooks',
      hosts: [{ id: 'v1' }],
      env: {
        TESTBAY_HEARTBEAT_TIMEOUT_MS: '15000',
        TESTBAY_HOST_PICKUP_TIMEOUT_MS: '20000',
        TESTBAY_WEBHOOK_RETRY_INITIAL_MS: '300',
        TESTBAY_WEBHOOK_RETRY_MAX_MS: '1000',
      },
    }),
    launchChromium(),
  ]);
  collectProblems(browser.page, problems);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await lab?.stop();
  receiver?.closeAllConnections();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
});

describe('dashboard: webhooks and the audit log', () => {
  it('shows the delivery log with its attempts, re-sends a delivery, and shows who did what on the hosts and job pages', async () => {
    const { page } = browser;
    const notify = notifyClient(lab.api);
    const { webhook } = await notify.addWebhook({
      url: receiverUrl,
      events: ['submission.done'],
      description: 'ci bridge',
    });
    await lab.run({ name: 'seen-by-webhook', jobs: [osTest('hello')] });
    await waitFor('the retried delivery', () => received.includes('submission.done 200'), 30_000);

    await page.goto(`${lab.api.baseUrl}/?token=${lab.tokens.operate}`);
    await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
    await page.locator(`tr[data-webhook="${webhook.id}"]`, { hasText: 'ci bridge' }).waitFor();
    const row = page.locator('table.deliveries tr[data-state="delivered"]').first();
    await row.waitFor();
    const items = row.locator('ol.attempts li');
    expect(
      await Promise.all(
        Array.from({ length: await items.count() }, (_, i) => items.nth(i).getAttribute('data-status')),
      ),
    ).toEqual(['503', '200']);
    expect(await row.locator('ol.attempts').innerText()).toMatch(/answered 503/);
    await browser.screenshot('webhooks-delivery-log');

    await row.getByRole('button', { name: 'Re-send' }).click();
    await page.locator('.notice', { hasText: 're-sent' }).waitFor();
    await waitFor(
      'the re-sent delivery',
      () => received.filter((r) => r === 'submission.done 200').length >= 2,
      30_000,
    );
    await page
      .locator('table.deliveries tr', { hasText: 're-send of' })
      .locator('[data-state], .badge', { hasText: 'delivered' })
      .first()
      .waitFor({ timeout: 15_000 });
    await browser.screenshot('webhooks-resent');

    // Who did what, on the hosts page.
    await lab.api.setMaintenance('v1', true);
    await lab.api.setMaintenance('v1', false);
    await page.getByRole('link', { name: 'Hosts', exact: true }).click();
    const audit = page.locator('.audit-panel table.audit');
    await audit.locator('tr[data-action="maintenance"]').nth(1).waitFor();
    expect(await audit.locator('tr[data-action="maintenance"]').first().innerText()).toMatch(
      /operator[\s\S]*127\.0\.0\.1[\s\S]*on: false/,
    );
    await browser.screenshot('hosts-audit-log');

    // And on a job's page: who cancelled it and why.
    const { id, jobs } = await lab.submit({ jobs: [osTest('long', { MODULE_MS: '20000' })] });
    await waitFor('the job to run', async () => (await lab.api.job(jobs[0]!.id)).state === 'running', 30_000);
    await lab.submitter.cancelJob(jobs[0]!.id, 'wrong image');
    await lab.waitForSubmission(id);
    await page.goto(`${lab.api.baseUrl}/jobs/${jobs[0]!.id}`);
    const cancel = page.locator('.audit-panel tr[data-action="cancel"]');
    await cancel.waitFor();
    expect(await cancel.innerText()).toMatch(/tester[\s\S]*reason: wrong image/);
    await browser.screenshot('job-audit-log');
    expect(problems).toEqual([]);
  });
});
