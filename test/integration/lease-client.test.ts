/**
 * The lease client (src/workflows/lease-client.ts) on a real lab: a recipe set and a batch
 * run submitted while the scheduler does not run (a lab starting up) keep asking until it
 * does, then run, instead of failing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULER_WORKFLOW_ID } from '../../src/domain/ids.js';
import { ensureScheduler } from '../../src/workers/control.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'lease-client', hosts: [] });
});
afterAll(async () => {
  await lab?.stop();
});

/** True once the workflow tried to reach the scheduler and found it not running. */
async function missedTheScheduler(workflowId: string): Promise<boolean> {
  const history = await lab.temporal.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).some((e) => e.signalExternalWorkflowExecutionFailedEventAttributes);
}

describe('the lease client', () => {
  it('a recipe set and a batch run submitted before the scheduler runs wait for it, then run', async () => {
    await lab.temporal.workflow.getHandle(SCHEDULER_WORKFLOW_ID).terminate('the lab is starting up');
    const { id } = await lab.submit({
      jobs: [osTest('job')],
      batchRuns: [
        {
          name: 'suite',
          workerClass: 'local',
          runner: { command: ['batch-test'] },
          settings: { TEST_MS: '20' },
          batchSize: 5,
          maxHosts: 1,
          tests: ['t1', 't2', 't3'],
        },
      ],
    });
    const seen = await waitFor('the recipe set and the batch run to start', async () => {
      const s = await lab.api.submission(id);
      return s.recipeSets.length > 0 && s.batchRuns?.[0] ? s : undefined;
    });
    const workflows = [seen.recipeSets[0]!.workflowId, seen.batchRuns![0]!.workflowId];
    await waitFor(
      'both to find no scheduler',
      async () => (await Promise.all(workflows.map(missedTheScheduler))).every(Boolean),
      30_000,
      200,
    );
    // The lab comes up: a host starts the scheduler as it registers (a scheduler that knew
    // no host at all would deny the requests), then the control worker configures it.
    await lab.startHost({ id: 'late' });
    await ensureScheduler(lab.temporal, lab.config);
    const view = await lab.waitForSubmission(id, 90_000);
    expect(view.jobs.map((j) => [j.name, j.result])).toEqual([['job', { kind: 'passed' }]]);
    expect(view.batchRuns![0]!.counts).toMatchObject({ total: 3, passed: 3, lost: 0 });
    expect(view.result).toBe('passed');
  });
});
