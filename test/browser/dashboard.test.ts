/**
 * The dashboard in a real browser (Debian's chromium) against a real lab: submit a chain
 * from the page and watch it run without a reload (live updates alone, the fallback poll
 * off), see its dependency graph, follow a log live (lines written after the page
 * opened), cancel a job, restart one, tell failed from aborted, follow a clone to its
 * original, see why a job waits (for a host, for the job before it in its chain), see the
 * job a host runs, a broken host's reason and its recent aborts, put hosts into
 * maintenance, watch a batch run and a batch's live log — all under the dashboard's
 * Content-Security-Policy, with no violation. Every page is saved as a screenshot under
 * test-output/screenshots/ for a person to look at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';
import { collectProblems, launchChromium, type Chromium } from './chromium.js';

let lab: TestLab;
let browser: Chromium;
let url: string;
/** what the browser refused or threw: CSP violations, script errors */
const problems: string[] = [];

beforeAll(async () => {
  // Chromium starts while the lab does: both take seconds on this machine.
  [lab, browser] = await Promise.all([
    TestLab.start({
      name: 'browser',
      hosts: [{ id: 'b1' }, { id: 'b2' }],
      // Chromium shares two cores with the lab: generous liveness timeouts keep a busy host from counting as lost.
      env: { TESTBAY_HEARTBEAT_TIMEOUT_MS: '15000', TESTBAY_HOST_PICKUP_TIMEOUT_MS: '20000' },
    }),
    launchChromium(),
  ]);
  url = lab.api.baseUrl;
  collectProblems(browser.page, problems);
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
    await page
      .locator('textarea[name=spec]')
      .fill('jobs:\n  - name: x\n    workerClass: local\n    runner: { command: [os-test] }\n    startAfter: [nope]\n');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.locator('.error-box', { hasText: 'jobs.0.startAfter.0' }).waitFor();
    await browser.screenshot('new-submission-invalid');
    await page.locator('textarea[name=spec]').fill(CHAIN_SPEC);
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL((u) => /^\/submissions\/[a-z0-9]+$/.test(u.pathname) && u.pathname !== '/submissions/new');
    const id = new URL(page.url()).pathname.split('/').pop()!;
    // From here on the page has only its live event stream: the fallback poll is off.
    await page.goto(`${url}/submissions/${id}?poll=0`);
    // Marks this document: a reload would lose it.
    await page.evaluate(() => ((globalThis as unknown as { marker: string }).marker = 'no reload'));

    await page.locator('svg.graph .job-node.state-running').first().waitFor();
    await browser.screenshot('submission-running');
    await page.locator('.head-badge [data-result]').waitFor({ timeout: 90_000 });
    expect(
      await page.locator('.head-badge [data-result]').getAttribute('data-result'),
      await page.locator('table.jobs').innerText(),
    ).toBe('passed');
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: string }).marker)).toBe('no reload');
    expect(new URL(page.url()).pathname).toBe(`/submissions/${id}`);
    expect(new URL(page.url()).search).toBe('?poll=0');

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
    // Temporal Web: the chain workflow that ran the job on its host, and its submission's.
    const desktop = await lab.api.job(`${id}.2`);
    expect(await page.locator('a.temporal-link[data-workflow=job]').getAttribute('href')).toMatch(
      new RegExp(`/workflows/chain-${id}-${desktop.setNumber}-${desktop.hostId}$`),
    );
    expect(await page.locator('a.temporal-link[data-workflow=submission]').getAttribute('href')).toMatch(
      new RegExp(`/workflows/sub-${id}$`),
    );
    await browser.screenshot('job-passed');
  }, 150_000);

  it('follows a running job log live and cancels the job from its page', async () => {
    const { page } = browser;
    const { jobs } = await lab.submit({
      name: 'to-cancel',
      jobs: [
        osTest('hangs', {
          MODULES: 'boot,install,login,desktop',
          MODULE_MS: '1500',
          LOG_LINES: '3',
          HANG_MODULE: 'desktop',
        }),
      ],
    });
    const jobId = jobs[0]!.id;
    await waitFor('the job to log', async () => (await lab.api.log(jobId)).includes('[boot]'), 30_000, 100);
    await page.goto(`${url}/jobs/${jobId}`);
    await page.locator('.log-state.following').waitFor();
    await page.locator('pre.log', { hasText: '[boot]' }).waitFor();
    // What the log held once the page had opened (and replayed it): the next module's
    // lines are not in it yet, so they can only come over the live stream.
    const atOpen = await lab.api.log(jobId);
    const later = ['[install]', '[login]', '[desktop]'].find((m) => !atOpen.includes(m));
    expect(later, `the job went too fast: ${atOpen}`).toBeDefined();
    await page.locator('pre.log', { hasText: later! }).waitFor({ timeout: 30_000 });
    const shown = (await page.locator('pre.log').textContent()) ?? '';
    expect((await lab.api.log(jobId)).startsWith(shown)).toBe(true);
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
      jobs: [
        osTest('breaks-lab', { ABORT_MODULE: 'boot' }, { maxRetries: 1 }),
        osTest('finds-bug', { FAIL_MODULE: 'login' }),
      ],
    });
    await page.goto(`${url}/submissions/${id}`);
    await page.locator('.head-badge [data-result]').waitFor({ timeout: 60_000 });
    await waitFor(
      'the clone to be drawn',
      async () => (await page.locator('svg.graph .job-node.result-aborted').count()) === 2,
      30_000,
      250,
    );
    expect(await page.locator('svg.graph .job-node.result-failed').count()).toBe(1);
    expect(await page.locator('svg.graph .edge-clone').count()).toBe(1);
    expect(await page.locator('svg.graph .clone-badge').count()).toBe(1);
    expect(await page.locator('svg.graph .job-node.result-aborted .node-status').first().textContent()).toMatch(
      /ABORTED \[runner-abort\]/,
    );
    expect(await page.locator('svg.graph .job-node.result-failed .node-status').textContent()).toBe('✗ FAILED (test)');
    expect(await page.locator('table.jobs tr.row-aborted .badge').first().textContent()).toContain(
      'aborted · infrastructure',
    );
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

  it('shows why a job waits — for a host, then for the job before it on its host — and the job a host runs', async () => {
    const { page } = browser;
    await page.goto(`${url}/hosts`);
    for (const host of ['b1', 'b2']) {
      const row = page.locator(`tr[data-host=${host}]`);
      await row.locator('[data-state=idle]').waitFor();
      await row.locator('button[data-action=maintenance-on]').click();
      await row.locator('[data-state=maintenance]').waitFor();
    }
    const { id } = await lab.submit({
      name: 'waits',
      jobs: [
        osTest('patient', { MODULES: 'boot,install,login', MODULE_MS: '1500' }),
        osTest('next', { MODULES: 'boot' }, { startDirectlyAfter: 'patient' }),
      ],
    });
    await page.locator('table.queue td.waiting-reason').waitFor();
    await browser.screenshot('hosts-maintenance');

    await page.goto(`${url}/submissions/${id}`);
    await page.locator('.waiting-box').waitFor();
    expect(await page.locator('.waiting-box').textContent()).toMatch(/maintenance/);
    expect(await page.locator('.waiting-box').textContent()).not.toContain('⏳');
    await browser.screenshot('submission-waiting');

    await page.goto(`${url}/hosts`);
    await page.locator('tr[data-host=b1] button[data-action=maintenance-off]').click();
    // The host shows the job it runs, linked to its page.
    const current = page.locator(`tr[data-host=b1] .current-job[data-job="${id}.1"]`);
    await current.waitFor({ timeout: 30_000 });
    expect(await current.locator('a').first().getAttribute('href')).toBe(`/jobs/${id}.1`);
    expect(await current.textContent()).toContain('patient');
    await browser.screenshot('hosts-current-job');

    // Its chain partner waits its turn on that host, and says for what.
    await page.goto(`${url}/submissions/${id}`);
    const waiting = page.locator(`.waiting-box li[data-job="${id}.2"]`);
    await waiting.waitFor({ timeout: 30_000 });
    expect(await waiting.textContent()).toBe('next: waiting for `patient` to finish on host b1');
    expect(await page.locator('svg.graph .job-node[data-name=next] .node-status').textContent()).toMatch(
      /^◷ waiting for `patient`/,
    );
    expect(await page.locator(`table.jobs tr[data-job="${id}.2"] .waiting-reason`).textContent()).toContain(
      'waiting for `patient` to finish on host b1',
    );
    await browser.screenshot('submission-chain-waiting');
    await page.goto(`${url}/jobs/${id}.2`);
    await page.locator('.waiting-box[data-state=scheduled]').waitFor();
    expect(await page.locator('.waiting-box').textContent()).toBe(
      '◷ Waiting: waiting for `patient` to finish on host b1',
    );

    await page.goto(`${url}/hosts`);
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

  it("shows a broken host's reason and its recent aborts, and an operator clears it", async () => {
    const { page } = browser;
    // The `mixed` submission aborted on a host: it is among that host's recent aborts.
    const labView = await lab.api.hosts();
    const aborted = labView.hosts.find((h) => h.recentAborts.length > 0);
    expect(aborted, 'a host with a recent abort').toBeDefined();
    const abort = aborted!.recentAborts.at(-1)!;
    await lab.api.markBroken('b2', 'power supply smells of smoke');
    await page.goto(`${url}/hosts`);
    const broken = page.locator('tr[data-host=b2]');
    await broken.locator('[data-state=broken]').waitFor();
    expect(await broken.locator('.broken-reason').textContent()).toMatch(
      /^broken \(operator\): power supply smells of smoke/,
    );
    const row = page.locator(`tr[data-host=${aborted!.id}]`);
    const item = row.locator('ul.aborts li', { hasText: abort.jobId });
    await item.waitFor();
    expect(await item.locator('a').getAttribute('href')).toBe(`/jobs/${abort.jobId}`);
    expect(await item.locator('.cause').textContent()).toBe(abort.cause);
    await browser.screenshot('hosts-broken');
    await broken.locator('button[data-action=clear-broken]').click();
    await broken.locator('[data-state=idle]').waitFor();
    expect(await broken.locator('.broken-reason').count()).toBe(0);
  }, 60_000);

  it('restarts a finished job from its page as a new submission that says what it restarts', async () => {
    const { page } = browser;
    const done = await lab.run({ name: 'to-restart', jobs: [osTest('again', { MODULES: 'boot' })] });
    const jobId = done.jobs[0]!.id;
    await page.goto(`${url}/jobs/${jobId}`);
    await page.locator('.result-box[data-result=passed]').waitFor();
    await page.locator('button[data-action=restart-job]').click();
    await page.waitForURL(
      (u) => /^\/submissions\/[a-z0-9]+$/.test(u.pathname) && u.pathname !== `/submissions/${done.id}`,
    );
    const restarted = new URL(page.url()).pathname.split('/').pop()!;
    await page.locator('.facts', { hasText: 'restarts job' }).waitFor();
    expect(await page.locator('.facts a', { hasText: jobId }).getAttribute('href')).toBe(`/jobs/${jobId}`);
    await page.locator('.head-badge [data-result=passed]').waitFor({ timeout: 60_000 });
    expect(await page.locator('.notice').textContent()).toContain(`restart ${jobId}`);
    await browser.screenshot('submission-restarted');
    expect((await lab.api.submission(done.id)).restartedAs).toEqual([restarted]);
  }, 90_000);

  it('shows a batch run as it runs: counts, batches on hosts with their live logs, isolated, lost and failed tests', async () => {
    const { page } = browser;
    const tests = ['t1', 't2', 't3', 'fail-4', 't5', 'poison-6', 't7', 't8', 't9', 't10'];
    const { id } = await lab.submit({
      name: 'batches',
      batchRuns: [
        {
          name: 'devices',
          workerClass: 'local',
          runner: { command: ['batch-test'] },
          settings: { TEST_MS: '700' },
          batchSize: 5,
          maxHosts: 2,
          requeueLimit: 1,
          tests,
        },
      ],
    });
    await page.goto(`${url}/submissions/${id}`);
    const panel = page.locator('section.batch-run');
    await panel.waitFor();
    // A submission of batch runs alone draws no empty job graph.
    expect(await page.locator('svg.graph').count()).toBe(0);
    const running = panel.locator('table.batches tbody tr').first();
    await running.waitFor({ timeout: 30_000 });
    expect(await panel.locator('[data-count=running] b').textContent()).not.toBe('0');
    expect(await panel.locator('.batch-bar .part-running').count()).toBe(1);
    const batchId = (await running.getAttribute('data-batch'))!;
    expect(batchId).toMatch(new RegExp(`^${id}\\.1\\.\\d+$`));
    expect(await running.locator('td').nth(1).textContent()).toMatch(/^b[12]$/);
    await browser.screenshot('submission-batch-run-running');

    // A batch's live log, on the job page (batch ids are <submission>.<run>.<batch>).
    await running.locator('a.live-log').click();
    await page.waitForURL(`${url}/jobs/${batchId}`);
    await page.locator('.log-state.following, .log-state.ended').first().waitFor();
    await page.locator('pre.log', { hasText: 'batch ' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('.crumbs').textContent()).toBe(`submission ${id} / batch run ${id}.1 / batch`);
    await page.locator('pre.log', { hasText: /^(ok|not ok) /m }).waitFor({ timeout: 30_000 });
    await browser.screenshot('job-batch-log');

    await page.goto(`${url}/submissions/${id}`);
    await page.locator('section.batch-run[data-state=done]').waitFor({ timeout: 90_000 });
    expect(await panel.locator('[data-count=done] b').textContent()).toBe('10');
    expect(await panel.locator('[data-count=lost] b').textContent()).toBe('1');
    expect(await panel.locator('[data-count=failed] b').textContent()).toBe('1');
    expect(await panel.locator('.batch-notes.isolated li[data-test=poison-6]').textContent()).toMatch(
      /^poison-6: running when its batch .* ended/,
    );
    expect(await panel.locator('.batch-notes.lost li[data-test=poison-6]').textContent()).toMatch(
      /^poison-6: lost 2 times \(requeueLimit 1\)/,
    );
    expect(await panel.locator('.batch-notes.failed li[data-test=fail-4]').textContent()).toBe(
      'fail-4: fail-4: assertion failed',
    );
    expect(await panel.locator('.batch-logs a').count()).toBeGreaterThanOrEqual(3);
    expect(await panel.locator('button[data-action=rerun-batch-run]').count()).toBe(1);
    await browser.screenshot('submission-batch-run-done');
  }, 150_000);

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
    // Nothing the dashboard did in any test broke its Content-Security-Policy.
    expect(problems).toEqual([]);
  });

  it('filters the submissions list by result and text', async () => {
    const { page } = browser;
    await page.goto(`${url}/`);
    await page.locator('table.submissions tbody tr').first().waitFor();
    expect(await page.locator('table.submissions tbody tr').count()).toBeGreaterThanOrEqual(4);
    await browser.screenshot('submissions');
    // `mixed` failed one job and aborted another: a submission's result is the most serious,
    // aborted; so is `batches`, which lost a test.
    const aborted = (await lab.api.submissions({ result: 'aborted' })).submissions.map((x) => x.name);
    expect(aborted).toEqual(expect.arrayContaining(['mixed', 'batches']));
    await page.locator('select[name=result]').selectOption('aborted');
    await waitFor(
      'the list to show only aborted submissions',
      async () => {
        const rows = await page.locator('table.submissions tbody tr').count();
        return (
          rows === aborted.length && (await page.locator('table.submissions tbody tr.row-aborted').count()) === rows
        );
      },
      15_000,
      200,
    );
    expect(page.url()).toContain('result=aborted');
    await page.locator('select[name=result]').selectOption('');
    await page.locator('input[name=q]').fill('dashboard-chain');
    await waitFor(
      'the text filter',
      async () => {
        const rows = page.locator('table.submissions tbody tr');
        return (await rows.count()) === 1 && (await rows.locator('.name').textContent())?.includes('dashboard-chain');
      },
      15_000,
      200,
    );
    expect(page.url()).toContain('q=dashboard-chain');
  }, 60_000);
});
