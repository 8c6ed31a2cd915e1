/**
 * Batch runs on a real lab with three real hosts: every test ends with exactly one
 * verdict whatever happens to the batches — a host killed mid-batch, a poison test that
 * crashes its runner, a hanging test, a frozen host, a cancel.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BatchVerdict } from '../../src/api/store/result-store.js';
import { groupMembers } from '../../src/activities/host/process-group.js';
import type { BatchRunView } from '../../src/domain/views.js';
import { TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'batch',
    hosts: [
      { id: 'b1', caps: { slot: 'b1' } },
      { id: 'b2', caps: { slot: 'b2' } },
      { id: 'b3', caps: { slot: 'b3' } },
    ],
    env: { TESTBAY_BROKEN_AFTER_ABORTS: '100', TESTBAY_BATCH_SHARD_TESTS: '20' },
  });
});
afterEach(async () => {
  await lab.cancelRunning();
  for (const id of ['b1', 'b2', 'b3']) {
    const child = lab.hosts.get(id);
    if (child?.signalCode === 'SIGSTOP') process.kill(child.pid!, 'SIGCONT');
    if (!child || child.exitCode !== null || child.signalCode === 'SIGKILL') await lab.startHost({ id, caps: { slot: id } });
  }
});
afterAll(async () => {
  await lab?.stop();
});

const ids = (n: number, prefix = 't') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
const batchRun = (tests: string[], extra: Record<string, unknown> = {}) => ({
  batchRuns: [{ name: 'suite', workerClass: 'local', runner: { command: ['batch-test'] }, settings: { TEST_MS: '20' }, batchSize: 10, maxHosts: 3, tests, ...extra }],
});
const runOf = async (submissionId: string): Promise<BatchRunView> => (await lab.api.submission(submissionId)).batchRuns![0]!;
const verdictsOf = async (run: BatchRunView): Promise<Map<string, BatchVerdict>> => new Map((await lab.api.verdicts(run.id)).verdicts.map((v) => [v.test, v]));

describe('batch runs', () => {
  it('spread over the hosts, every test passes with exactly one verdict', async () => {
    const view = await lab.run(batchRun(ids(60)));
    const run = view.batchRuns![0]!;
    expect(view.result).toBe('passed');
    expect(run.counts).toMatchObject({ total: 60, passed: 60, failed: 0, lost: 0, running: 0, queued: 0, requeued: 0 });
    expect(run.batches).toBeGreaterThanOrEqual(6); // the last batches shrink so all hosts share the tail
    expect(run.hosts.length).toBeGreaterThanOrEqual(2);
    const verdicts = await verdictsOf(run);
    expect(verdicts.size).toBe(60);
    expect([...verdicts.values()].every((v) => v.verdict === 'passed' && v.attempts === 1)).toBe(true);
    // Each batch has its own log.
    expect(await lab.api.log(`${run.id}.1`)).toMatch(/^batch .* 10 tests/);
  });

  it('a host killed mid-batch: its unfinished tests rerun elsewhere, finished ones are not rerun', async () => {
    const { id } = await lab.submit(batchRun(ids(12), { settings: { TEST_MS: '400' }, batchSize: 12, maxHosts: 1 }));
    const busy = await waitFor('the batch to be running', async () => (await runOf(id)).running[0]);
    const log = () => lab.api.log(busy.batchId);
    await waitFor('three tests to finish', async () => ((await log()).match(/^ok /gm)?.length ?? 0) >= 3, 30_000, 100);
    const finished = [...(await log()).matchAll(/^ok (\S+)$/gm)].map((m) => m[1]!);
    // Heartbeats leave the host at most every 500 ms (the test throttle): give theirs time.
    await new Promise((r) => setTimeout(r, 1_500));
    lab.signalHost(busy.hostId, 'SIGKILL');
    const view = await lab.waitForSubmission(id, 90_000);
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 12, passed: 12, lost: 0 });
    expect(run.hosts).toContain(busy.hostId);
    expect(run.hosts.length).toBeGreaterThanOrEqual(2);
    const verdicts = await verdictsOf(run);
    for (const t of finished) expect(verdicts.get(t)!.attempts).toBe(1);
    const rerun = [...verdicts.values()].filter((v) => v.attempts > 1).map((v) => v.test);
    expect(rerun.length).toBeGreaterThan(0);
    for (const t of rerun) expect(finished).not.toContain(t);
  });

  it('a poison test is isolated and reported lost after requeueLimit, while its batch-mates pass', async () => {
    const view = await lab.run(batchRun([...ids(15), 'poison-1', ...ids(14, 'u')], { requeueLimit: 2 }), 90_000);
    const run = view.batchRuns![0]!;
    expect(view.result).toBe('aborted');
    expect(run.counts).toMatchObject({ total: 30, passed: 29, lost: 1 });
    expect(run.isolated.map((t) => t.test)).toEqual(['poison-1']);
    expect(run.isolated[0]!.reason).toMatch(/running when its batch .* ended: .*killed by SIGSEGV/);
    expect(run.lost).toEqual([{ test: 'poison-1', reason: expect.stringMatching(/^lost 3 times \(requeueLimit 2\): \d\d:\d\d:\d\d on b\d: /) }]);
    const verdicts = await verdictsOf(run);
    expect(verdicts.get('poison-1')).toMatchObject({ verdict: 'lost', attempts: 3 });
  });

  it('a hanging test hits the batch timeout; the rest of the batch is requeued and passes', async () => {
    const view = await lab.run(batchRun([...ids(4), 'hang-1', ...ids(4, 'v')], { batchSize: 9, batchTimeoutMs: 3_000, requeueLimit: 1 }), 90_000);
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 9, passed: 8, lost: 1 });
    expect(run.lost[0]).toMatchObject({ test: 'hang-1', reason: expect.stringContaining('batch exceeded batchTimeoutMs (3 s)') });
    expect(run.lostBatches).toBe(2);
  });

  it('a frozen host: its batch is rerun elsewhere and its late results are ignored', async () => {
    const { id } = await lab.submit(batchRun(ids(8), { settings: { TEST_MS: '500' }, batchSize: 8, maxHosts: 1 }));
    const busy = await waitFor('the batch to be running', async () => (await runOf(id)).running[0]);
    await waitFor('a test to finish', async () => /^ok /m.test(await lab.api.log(busy.batchId)), 30_000);
    const pgid = Number(await fs.readFile(path.join(lab.workDirOf(busy.hostId), 'runners', `${busy.batchId}.pid`), 'utf8'));
    lab.signalHost(busy.hostId, 'SIGSTOP');
    const view = await lab.waitForSubmission(id, 90_000);
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 8, passed: 8, lost: 0 });
    const before = await lab.api.job(busy.batchId);
    expect(before.result).toMatchObject({ kind: 'aborted', cause: 'host-lost' });
    lab.signalHost(busy.hostId, 'SIGCONT');
    await waitFor('the frozen runner to be stopped', () => groupMembers(pgid).length === 0, 20_000);
    const after = await lab.api.job(busy.batchId);
    expect(after.logBytes).toBe(before.logBytes);
    expect(after.tests).toEqual(before.tests);
    const verdicts = await verdictsOf(run);
    expect(verdicts.size).toBe(8);
    expect((await runOf(id)).counts.passed).toBe(8);
  });

  it('cancel mid-run stops the batches out and cancels what waits', async () => {
    const { id } = await lab.submit(batchRun(ids(40), { settings: { TEST_MS: '300' }, batchSize: 5, maxHosts: 2 }));
    await waitFor('batches to run', async () => (await runOf(id)).running.length === 2);
    await lab.submitter.cancelSubmission(id, 'enough');
    const view = await lab.waitForSubmission(id);
    const run = view.batchRuns![0]!;
    expect(view.result).toBe('cancelled');
    expect(run.counts.passed + run.counts.cancelled).toBe(40);
    expect(run.counts.cancelled).toBeGreaterThan(20);
  });

  it('works through a long list shard by shard, continuing-as-new, with every test counted once', async () => {
    const view = await lab.run(batchRun(ids(45), { batchSize: 5, settings: { TEST_MS: '5' } }), 120_000);
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 45, passed: 45 });
    expect(run.batches).toBeGreaterThanOrEqual(9);
    expect((await verdictsOf(run)).size).toBe(45);
    // The lab runs with TESTBAY_BATCH_SHARD_TESTS=20: 45 tests take three runs of the workflow.
    const runs: string[] = [];
    for await (const wf of lab.temporal.workflow.list({ query: `WorkflowId = "${run.workflowId}"` })) runs.push(wf.runId);
    expect(runs).toHaveLength(3);
  });

  it('lists its tests with a command on a host, and fails fast when no host can take batches', async () => {
    const listed = await lab.run(batchRun([], { tests: undefined, testsCommand: ['sh', '-c', 'for i in 1 2 3 4 5; do echo case-$i; done'] }));
    expect(listed.batchRuns![0]!.counts).toMatchObject({ total: 5, passed: 5 });

    await lab.api.setMaintenance('b3', true);
    try {
      const started = Date.now();
      const view = await lab.run(batchRun(ids(5), { hostRequires: ['slot == b3'] }));
      expect(Date.now() - started).toBeLessThan(20_000);
      const run = view.batchRuns![0]!;
      expect(run.counts).toMatchObject({ total: 5, lost: 5 });
      expect(run.reason).toMatch(/^no host can take batches: no host of class local with slot == b3 can take work: b3 maintenance/);
    } finally {
      await lab.api.setMaintenance('b3', false);
    }
  });

  it('rerunning a finished batch run reruns only its failed and lost tests; a pass after a failure is flaky', async () => {
    const view = await lab.run(batchRun(['ok-1', 'fail-1', 'flaky-1', 'ok-2'], { retryFailed: 1, settings: { TEST_MS: '20', FLAKY_DIR: path.join(lab.dir, 'flaky') } }));
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ passed: 2, failed: 1, flaky: 1 });
    expect(run.flaky).toEqual(['flaky-1']);
    expect(run.failed).toEqual([{ test: 'fail-1', reason: 'fail-1: assertion failed' }]);
    const again = await lab.submitter.restartJob(run.id);
    const rerun = await lab.waitForSubmission(again.id);
    expect(rerun.batchRuns![0]!.counts.total).toBe(1);
    expect((await lab.api.verdicts(rerun.batchRuns![0]!.id)).verdicts.map((v) => v.test)).toEqual(['fail-1']);
  });
});
