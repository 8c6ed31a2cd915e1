/**
 * A stuck workflow does not go unnoticed: a workflow whose task fails (here a submission
 * workflow started by hand with an input it cannot read, so it throws a TypeError on every
 * attempt) shows in the control worker's own Prometheus counter
 * `testbay_workflow_task_failures_total`, in GET /hosts, and as a line on the dashboard's
 * hosts page. The suite's guard would fail this test for that failure: the test takes it
 * (newFailures) once it has seen what it expects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_TASK_QUEUE } from '../../src/domain/ids.js';
import type { LabWithJobs } from '../../src/api/host-jobs.js';
import { launchChromium, type Chromium } from '../browser/chromium.js';
import { TestLab, waitFor } from '../helpers/lab.js';
import { newFailures } from '../helpers/task-failure-guard.js';

let lab: TestLab;
let browser: Chromium;
beforeAll(async () => {
  [lab, browser] = await Promise.all([
    TestLab.start({ name: 'stuck', separateProcesses: true, hosts: [{ id: 'st1' }] }),
    launchChromium(),
  ]);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await lab?.stop();
});

describe('a workflow whose task fails', () => {
  it('is counted by the control worker, shown by GET /hosts and on the hosts page', async () => {
    const handle = await lab.temporal.workflow.start('submissionWorkflow', {
      workflowId: 'sub-brokeninput',
      taskQueue: CONTROL_TASK_QUEUE,
      args: [{}],
    });
    const metricsUrl = lab.controlMetricsUrl!;
    const counted = await waitFor(
      'the control worker to count the failed task',
      async () => {
        const m = /^testbay_workflow_task_failures_total (\d+)$/m.exec(await (await fetch(metricsUrl)).text());
        return m && Number(m[1]) > 0 ? Number(m[1]) : undefined;
      },
      30_000,
      250,
    );
    expect(counted).toBeGreaterThan(0);
    const lab_ = await waitFor(
      'GET /hosts to show it',
      async () => {
        const view: LabWithJobs = await lab.api.hosts();
        return view.workflowTaskFailures?.length ? view : undefined;
      },
      30_000,
      250,
    );
    const report = lab_.workflowTaskFailures![0]!;
    expect(report.total).toBeGreaterThan(0);
    expect(report.recent.at(-1)!.failure).toMatch(/TypeError|Cannot read/);
    expect(report.recent.at(-1)!.runId).toBe(handle.firstExecutionRunId);

    const { page } = browser;
    await page.goto(`${lab.api.baseUrl}/?token=${lab.tokens.operate}`);
    await page.goto(`${lab.api.baseUrl}/hosts`);
    const line = page.locator('.task-failures');
    await line.waitFor();
    expect(await line.textContent()).toMatch(/workflow task failures? in control@.*a workflow may be stuck/);
    await browser.screenshot('hosts-workflow-task-failures');

    await handle.terminate('test: a workflow that could never run');
    // Seen and expected: the guard must not fail this test for it.
    await newFailures();
  });
});
