/**
 * The dashboard in a real browser (Debian's chromium) against a real lab: submit a chain
 * from the page and watch it run without a reload, see its dependency graph, follow a log
 * live, cancel a job, tell failed from aborted, follow a clone to its original, see why a
 * job waits, and put a host into maintenance. Every page is saved as a screenshot under
 * test-output/screenshots/ for a person to look at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';
import { launchChromium, type Chromium } from './chromium.js';

let lab: TestLab;
let browser: Chromium;
let url: string;

beforeAll(async () => {
  // Chromium starts while the lab does: both take seconds on this machine.
  [lab, browser] = await Promise.all([TestLab.start({
      name: 'browser',
      hosts: [{ id: 'b1' }, { id: 'b2' }],
      // Chromium shares two cores with the lab: generous liveness timeouts keep a busy host from counting as lost.
      env: { TESTBAY_HEARTBEAT_TIMEOUT_MS: '15000', TESTBAY_HOST_PICKUP_TIMEOUT_MS: '20000' },
    }), launchChromium()]);
  url = lab.api.baseUrl;
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await lab?.stop();
});

const CHAIN_SPEC = `name: dashboard-chain
defaults:
  workerClass: local
  runner: { command: [os-test] }
  settings: { MODULE_MS: 300, LOG_LINES: 2 }
jobs:
  - name: install
    settings: { MODULES: "boot,install" }
  - name: desktop
    startDirectlyAfter: install
    settings: { MODULES: "login,desktop" }
  - name: server
    parallelWith: client
    settings: { MODULES: "boot,server" }
  - name: client
    settings: { MODULES: "boot,client" }
  - name: report
    startAfter: [desktop, server, client]
    settings: { MODULES: "report" }
`;

describe('dashboard', () => {
  it('submits a chain, shows it running live without a reload, then its graph with every kind of edge', async () => {
    const { page } = browser;
    await page.goto(`${url}/?token=${lab.tokens.operate}`);
    await page.getByRole('link', { name: 'New submission', exact: true }).click();
    // A bad spec comes back with the path of the field at fault.
    await page.locator('textarea[name=spec]').fill('jobs:\n  - name: x\n    workerClass: local\n    runner: { command: [os-test] }\n    startAfter: [nope]\n');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.locator('.error-box', { hasText: 'jobs.0.startAfter.0' }).waitFor();
    await browser.screenshot('new-submission-invalid');
    await page.locator('textarea[name=spec]').fill(CHAIN_SPEC);
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL((u) => /^\/submissions\/[a-z0-9]+$/.test(u.pathname) && u.pathname !== '/submissions/new');
    const id = new URL(page.url()).pathname.split('/').pop()!;
    // Marks this document: a reload would lose it.
    await page.evaluate(() => ((globalThis as unknown as { marker: string }).marker = 'no reload'));

    await page.locator('svg.graph .job-node.state-running').first().waitFor();
    await browser.screenshot('submission-running');
    await page.locator('.head-badge [data-result]').waitFor({ timeout: 90_000 });
    expect(await page.locator('.head-badge [data-result]').getAttribute('data-result'), await page.locator('table.jobs').innerText()).toBe('passed');
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: string }).marker)).toBe('no reload');
    expect(new URL(page.url()).pathname).toBe(`/submissions/${id}`);

    expect(await page.locator('svg.graph .job-node').count()).toBe(5);
    expect(await page.locator('svg.graph .job-node.result-passed').count()).toBe(5);
    expect(await page.locator('svg.graph .edge-chain').count()).toBe(1);
    expect(await page.locator('svg.graph .edge-after').count()).toBe(3);
    expect(await page.locator('svg.graph .edge-parallel').count()).toBe(1);
    expect(await page.locator('svg.graph .set-box').count()).toBe(1);
    const chain = page.locator('svg.graph .edge-chain');
    expect(await chain.getAttribute('data-from')).toBe(`${id}.1`);
    expect(await chain.getAttribute('data-to')).toBe(`${id}.2`);
    await browser.screenshot('submission-graph');

    // A node of the graph opens its job.
    await page.locator(`svg.graph .job-node[data-name=desktop]`).click();
    await page.waitForURL(`${url}/jobs/${id}.2`);
    await page.locator('.log-state.ended').waitFor();
    expect(await page.locator('pre.log').textContent()).toMatch(/\[desktop\] ok/);
    expect(await page.locator('.screenshots img').count()).toBeGreaterThan(0);
    expect(await page.locator('table.tests tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('a.temporal-link').getAttribute('href')).toContain(`/workflows/sub-${id}`);
    await browser.screenshot('job-passed');
  }, 150_000);

  it('follows a running job log live and cancels the job from its page', async () => {
    const { page } = browser;
    const { jobs } = await lab.submit({ name: 'to-cancel', jobs: [osTest('hangs', { MODULES: 'boot,install,login', MODULE_MS: '700', LOG_LINES: '3', HANG_MODULE: 'login' })] });
    const jobId = jobs[0]!.id;
    await page.goto(`${url}/jobs/${jobId}`);
    await page.locator('.log-state.following').waitFor();
    await page.locator('pre.log', { hasText: '[boot]' }).waitFor();
    // Lines written after the page opened arrive without a reload.
    await page.locator('pre.log', { hasText: '[login]' }).waitFor({ timeout: 30_000 });
    await page.locator('.progress-box').waitFor();
    await browser.screenshot('job-running-log');

    await page.locator('button[data-action=cancel-job]').click();
    await page.locator('.result-box[data-result=cancelled]').waitFor({ timeout: 30_000 });
    await page.locator('.log-state.ended').waitFor();
    expect(await page.locator('.result-box').textContent()).toMatch(/cancelled by operator/);
    await browser.screenshot('job-cancelled');
  }, 120_000);

  it('draws failed and aborted differently and links a re-scheduled clone to its original', async () => {
    const { page } = browser;
    const { id } = await lab.submit({
      name: 'mixed',
      jobs: [osTest('breaks-lab', { ABORT_MODULE: 'boot' }, { maxRetries: 1 }), osTest('finds-bug', { FAIL_MODULE: 'login' })],
    });
    await page.goto(`${url}/submissions/${id}`);
    await page.locator('.head-badge [data-result]').waitFor({ timeout: 60_000 });
    await waitFor('the clone to be drawn', async () => (await page.locator('svg.graph .job-node.result-aborted').count()) === 2, 30_000, 250);
    expect(await page.locator('svg.graph .job-node.result-failed').count()).toBe(1);
    expect(await page.locator('svg.graph .edge-clone').count()).toBe(1);
    expect(await page.locator('svg.graph .clone-badge').count()).toBe(1);
    expect(await page.locator('svg.graph .job-node.result-aborted .node-status').first().textContent()).toMatch(/ABORTED \[runner-abort\]/);
    expect(await page.locator('svg.graph .job-node.result-failed .node-status').textContent()).toBe('✗ FAILED (test)');
    expect(await page.locator('table.jobs tr.row-aborted .badge').first().textContent()).toContain('aborted · infrastructure');
    expect(await page.locator('table.jobs tr.row-failed .badge').textContent()).toContain('failed · test');
    expect(await page.locator('table.jobs tr.row-aborted .cause').first().textContent()).toBe('runner-abort');
    await page.locator('.aborted-box').waitFor();
    await browser.screenshot('submission-failed-and-aborted');

    const clone = page.locator('svg.graph .job-node.is-clone');
    const cloneId = await clone.getAttribute('data-job');
    await clone.click();
    await page.waitForURL(`${url}/jobs/${cloneId}`);
    await page.locator('.result-box[data-result=aborted]').waitFor();
    expect(await page.locator('.result-box').textContent()).toMatch(/infrastructure fault, not a test failure/);
    const original = await page.locator('.facts-grid .clone-mark a').textContent();
    expect(original).toBe(`${id}.1`);
    await browser.screenshot('job-aborted-clone');
    await page.locator('.facts-grid .clone-mark a').click();
    await page.waitForURL(`${url}/jobs/${original}`);
    expect(await page.locator('.result-box').textContent()).toContain(`re-scheduled on another host as ${cloneId}`);
  }, 120_000);

  it('shows why a job waits, and lets an operator put hosts into maintenance and back', async () => {
    const { page } = browser;
    await page.goto(`${url}/hosts`);
    for (const host of ['b1', 'b2']) {
      const row = page.locator(`tr[data-host=${host}]`);
      await row.locator('[data-state=idle]').waitFor();
      await row.locator('button[data-action=maintenance-on]').click();
      await row.locator('[data-state=maintenance]').waitFor();
    }
    const { id } = await lab.submit({ name: 'waits', jobs: [osTest('patient')] });
    await page.locator('table.queue td.waiting-reason').waitFor();
    await browser.screenshot('hosts-maintenance');

    await page.goto(`${url}/submissions/${id}`);
    await page.locator('.waiting-box').waitFor();
    expect(await page.locator('.waiting-box').textContent()).toMatch(/maintenance/);
    await browser.screenshot('submission-waiting');

    await page.goto(`${url}/hosts`);
    await page.locator('tr[data-host=b1] button[data-action=maintenance-off]').click();
    await page.locator('tr[data-host=b1] [data-state=leased], tr[data-host=b1] [data-state=idle]').first().waitFor();
    await page.locator('tr[data-host=b2] button[data-action=maintenance-off]').click();
    await page.locator('tr[data-host=b2] [data-state=idle], tr[data-host=b2] [data-state=leased]').first().waitFor();
    expect((await lab.waitForSubmission(id)).result).toBe('passed');

    // A tester's token sees the lab but gets no operator buttons.
    await page.goto(`${url}/hosts?token=${lab.tokens.submit}`);
    await page.locator('tr[data-host=b1]').waitFor();
    expect(await page.locator('button[data-action^=maintenance]').count()).toBe(0);
    await browser.screenshot('hosts');
    await page.goto(`${url}/?token=${lab.tokens.operate}`);
  }, 120_000);

  it('serves the API docs page without anything from elsewhere', async () => {
    const { page } = browser;
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(url)) outside.push(r.url());
    });
    await page.goto(`${url}/api/v1/docs`);
    await page.locator('section.op').first().waitFor();
    expect(await page.locator('section.op').count()).toBeGreaterThan(20);
    await browser.screenshot('api-docs');
    await page.goto(`${url}/hosts`);
    await page.locator('table.hosts-table').waitFor();
    expect(outside).toEqual([]);
  });

  it('filters the submissions list by result and text', async () => {
    const { page } = browser;
    await page.goto(`${url}/`);
    await page.locator('table.submissions tbody tr').first().waitFor();
    expect(await page.locator('table.submissions tbody tr').count()).toBeGreaterThanOrEqual(4);
    await browser.screenshot('submissions');
    // `mixed` failed one job and aborted another: a submission's result is the most serious, aborted.
    await page.locator('select[name=result]').selectOption('aborted');
    await waitFor('the list to show only aborted submissions', async () => {
      const rows = await page.locator('table.submissions tbody tr').count();
      return rows === 1 && (await page.locator('table.submissions tbody tr.row-aborted').count()) === 1;
    }, 15_000, 200);
    expect(page.url()).toContain('result=aborted');
    await page.locator('select[name=result]').selectOption('');
    await page.locator('input[name=q]').fill('dashboard-chain');
    await waitFor('the text filter', async () => {
      const rows = page.locator('table.submissions tbody tr');
      return (await rows.count()) === 1 && (await rows.locator('.name').textContent())?.includes('dashboard-chain');
    }, 15_000, 200);
    expect(page.url()).toContain('q=dashboard-chain');
  }, 60_000);
});
