/**
 * A batch run as large as the spec allows, on a real lab with three hosts: 100,000 trivial
 * tests listed by a command on a host (their ids reach the result store in chunks, never in
 * one payload), every test with exactly one verdict, and no workflow history anywhere near
 * Temporal's limits (50 MB, 51,200 events). About 40 s on the 2-core development machine
 * (shards of 6,000 tests, batches of 2,000); TESTBAY_TEST_LARGE_BATCH sets another count.
 * Also: 100,000 ids given in the spec itself get in (the API takes up to 16 MB).
 */
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestLab } from '../helpers/lab.js';

const COUNT = Number(process.env.TESTBAY_TEST_LARGE_BATCH ?? 100_000);

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'batch-large',
    hosts: [{ id: 'l1' }, { id: 'l2' }, { id: 'l3' }],
    env: { TESTBAY_LOG_LEVEL: 'warn', TESTBAY_BATCH_SHARD_TESTS: '6000' },
  });
});
afterAll(async () => {
  await lab?.stop();
});

/** Size and length of every workflow history of a submission (each run of a continued-as-new workflow apart). */
async function histories(submissionId: string): Promise<{ workflowId: string; bytes: number; events: number }[]> {
  const out: { workflowId: string; bytes: number; events: number }[] = [];
  for await (const wf of lab.temporal.workflow.list({ query: `TestbaySubmission = "${submissionId}"` })) {
    const history = await lab.temporal.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    out.push({
      workflowId: wf.workflowId,
      bytes: temporal.api.history.v1.History.encode(history).finish().length,
      events: history.events?.length ?? 0,
    });
  }
  return out;
}

describe('a batch run of 100,000 tests', () => {
  it(`${COUNT} tests listed by a command: each gets exactly one verdict, and every history stays small`, async () => {
    const started = Date.now();
    const view = await lab.run(
      {
        batchRuns: [
          {
            name: 'big',
            workerClass: 'local',
            runner: { command: ['batch-test'] },
            settings: { TEST_MS: '0' },
            // Shards of 6,000: 17 runs of the workflow, each with batches on all three hosts.
            batchSize: 2_000,
            maxHosts: 3,
            testsCommand: ['seq', '-f', 'case-%06g', '1', String(COUNT)],
          },
        ],
      },
      600_000,
    );
    const wallMs = Date.now() - started;
    const run = view.batchRuns![0]!;
    expect(view.result).toBe('passed');
    expect(run.counts).toMatchObject({
      total: COUNT,
      passed: COUNT,
      lost: 0,
      failed: 0,
      running: 0,
      queued: 0,
      requeued: 0,
    });

    const verdicts = (await lab.api.verdicts(run.id)).verdicts;
    expect(verdicts).toHaveLength(COUNT);
    expect(new Set(verdicts.map((v) => v.test)).size).toBe(COUNT);
    expect(verdicts.every((v) => v.verdict === 'passed' && v.attempts === 1)).toBe(true);

    const all = await histories(view.id);
    const largest = all.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const longest = all.reduce((a, b) => (b.events > a.events ? b : a));
    console.log(
      `${COUNT} tests in ${(wallMs / 1000).toFixed(1)} s, ${run.batches} batches, ${all.length} workflow runs; ` +
        `largest history ${(largest.bytes / 1024).toFixed(0)} KiB (${largest.workflowId}), longest ${longest.events} events (${longest.workflowId})`,
    );
    // Temporal's hard limits are 50 MB and 51,200 events per history; it suggests continuing as new at 4 MB or about 4k events.
    expect(largest.bytes).toBeLessThan(4 * 1024 * 1024);
    expect(longest.events).toBeLessThan(4_000);
  }, 660_000);

  it('100,000 test ids given in the spec itself get in', async () => {
    const tests = Array.from({ length: 100_000 }, (_, i) => `inline-case-${String(i + 1).padStart(6, '0')}`);
    expect(JSON.stringify(tests).length).toBeGreaterThan(1024 * 1024);
    const { id } = await lab.submit({
      batchRuns: [
        {
          name: 'inline',
          workerClass: 'local',
          runner: { command: ['batch-test'] },
          settings: { TEST_MS: '0' },
          batchSize: 1_000,
          tests,
        },
      ],
    });
    await lab.submitter.cancelSubmission(id, 'seen it get in');
    const view = await lab.waitForSubmission(id, 120_000);
    expect(view.batchRuns![0]!.counts.total).toBe(100_000);
    expect(view.batchRuns![0]!.counts.passed + view.batchRuns![0]!.counts.cancelled).toBe(100_000);
  });
});
