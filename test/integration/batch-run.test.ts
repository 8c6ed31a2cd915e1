/**
 * Batch runs on a real lab with three real hosts and the default per-host breaker (3): every
 * test ends with exactly one verdict whatever happens to the batches — a host killed
 * mid-batch, a poison test that crashes its runner (by a signal or an exit code), a hanging
 * test, a frozen host whose late results become history, a host shutting down, a host whose
 * runners keep dying, a cancel.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { groupMembers } from '../../src/activities/host/process-group.js';
import type { BatchRunView } from '../../src/domain/views.js';
import type { StoredAttempt, StoredVerdict } from '../../src/domain/wire/batch-runs.js';
import { TestLab, waitFor } from '../helpers/lab.js';

const HOSTS = ['b1', 'b2', 'b3'];
let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'batch',
    // The store on PostgreSQL, out of this process: the embedded one runs in the API's
    // thread (here the test's), and a killer polling every 30 ms must not wait for it.
    engine: 'postgres',
    hosts: HOSTS.map((id) => ({ id, caps: { slot: id } })),
    env: { TESTBAY_BATCH_SHARD_TESTS: '20' },
  });
});
afterEach(async () => {
  await lab.cancelRunning();
  for (const id of HOSTS) {
    const child = lab.hosts.get(id);
    if (child?.signalCode === 'SIGSTOP') process.kill(child.pid!, 'SIGCONT');
    if (!child || child.exitCode !== null || child.signalCode === 'SIGKILL')
      await lab.startHost({ id, caps: { slot: id } });
    if ((await lab.host(id))?.broken) await lab.api.clearBroken(id);
  }
});
afterAll(async () => {
  await lab?.stop();
});

const ids = (n: number, prefix = 't') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
const batchRun = (tests: string[], extra: Record<string, unknown> = {}) => ({
  batchRuns: [
    {
      name: 'suite',
      workerClass: 'local',
      runner: { command: ['batch-test'] },
      settings: { TEST_MS: '20' },
      batchSize: 10,
      maxHosts: 3,
      tests,
      ...extra,
    },
  ],
});
const runOf = async (submissionId: string): Promise<BatchRunView> =>
  (await lab.api.submission(submissionId)).batchRuns![0]!;
/** The stored verdicts, with every attempt's history (the store keeps what the workflow wrote). */
type FullVerdict = StoredVerdict & { late: number; history: StoredAttempt[] };
/** The workflow stores every verdict with its late count and history: a verdict without them fails the test. */
const full = (v: StoredVerdict): FullVerdict => {
  if (v.late === undefined || !v.history)
    throw new Error(`the verdict of ${v.test} came without its late count or history`);
  return { ...v, late: v.late, history: v.history };
};
const verdictsOf = async (run: BatchRunView): Promise<Map<string, FullVerdict>> =>
  new Map((await lab.api.verdicts(run.id)).verdicts.map((v) => [v.test, full(v)]));
/** The attempt that gave a test its verdict. */
const decisive = (v: FullVerdict): StoredAttempt | undefined =>
  v.history.find(
    (a) => a.outcome === 'passed' || a.outcome === 'failed' || a.outcome === 'error' || a.outcome === 'skipped',
  );
const leaseCounts = async () => new Map((await lab.api.hosts()).hosts.map((h) => [h.id, h.leaseCount]));

describe('batch runs', () => {
  it('spread over the hosts, every test passes with exactly one verdict, every batch record sealed', async () => {
    const view = await lab.run(batchRun(ids(60)));
    const run = view.batchRuns![0]!;
    expect(view.result).toBe('passed');
    expect(run.counts).toMatchObject({ total: 60, passed: 60, failed: 0, lost: 0, running: 0, queued: 0, requeued: 0 });
    expect(run.batches).toBeGreaterThanOrEqual(6); // the last batches shrink so all hosts share the tail
    expect(run.hosts.length).toBeGreaterThanOrEqual(2);
    const verdicts = await verdictsOf(run);
    expect(verdicts.size).toBe(60);
    expect(
      [...verdicts.values()].every((v) => v.verdict === 'passed' && v.attempts === 1 && v.history.length === 1),
    ).toBe(true);
    // Each batch has its own log, and every batch record is sealed before the run ends.
    expect(await lab.api.log(`${run.id}.1`)).toMatch(/^batch .* 10 tests/);
    const records = await Promise.all(Array.from({ length: run.batches }, (_, i) => lab.api.job(`${run.id}.${i + 1}`)));
    expect(records.map((r) => r.state)).toEqual(records.map(() => 'done'));
  });

  it('stores verdicts as they settle and shows the test each batch is in, while the run goes on', async () => {
    const { id } = await lab.submit(batchRun(ids(30), { settings: { TEST_MS: '200' }, batchSize: 5, maxHosts: 1 }));
    const run = await waitFor('the run to start', async () =>
      (await runOf(id)).state === 'running' ? runOf(id) : undefined,
    );
    const early = await waitFor(
      'verdicts stored while the run runs',
      async () => {
        const stored = (await lab.api.verdicts(run.id)).verdicts;
        return stored.length > 0 && (await runOf(id)).state === 'running' ? stored : undefined;
      },
      30_000,
      200,
    );
    expect(early.length).toBeLessThan(30);
    // A batch out whose record says which test runs (one caught between its last test and its end says none).
    const progress = await waitFor(
      'a batch record to say which test runs',
      async () => {
        const busy = (await runOf(id)).running[0];
        const p = busy && (await lab.api.job(busy.batchId)).progress;
        return p?.module !== undefined ? p : undefined;
      },
      10_000,
      50,
    );
    expect(progress).toMatchObject({
      module: expect.stringMatching(/^t\d+$/),
      message: expect.stringMatching(/^\d of 5 tests done$/),
    });
    // The run's view says which test each batch out runs now; GET /jobs/<run id> shows the run.
    const now = await waitFor(
      'the run view to name the current test',
      async () => (await runOf(id)).running.find((b) => b.current !== undefined),
      10_000,
      100,
    );
    expect(now.current).toMatch(/^t\d+$/);
    const asJob = await lab.api.jobOrBatchRun(run.id);
    expect(asJob).toMatchObject({
      kind: 'batch-run',
      id: run.id,
      name: run.name,
      submissionId: id,
      temporalWebUrl: expect.stringContaining(run.workflowId),
    });
    await expect(lab.api.job(run.id)).rejects.toThrow(/is a batch run/);
    const view = await lab.waitForSubmission(id, 60_000);
    expect(view.batchRuns![0]!.counts.passed).toBe(30);
    const verdicts = (await lab.api.verdicts(run.id)).verdicts;
    expect(new Set(verdicts.map((v) => v.test)).size).toBe(30);
    expect(verdicts).toHaveLength(30);
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
    const rerun = [...verdicts.values()].filter((v) => v.attempts > 1);
    expect(rerun.length).toBeGreaterThan(0);
    for (const v of rerun) {
      expect(finished).not.toContain(v.test);
      expect(decisive(v)!.hostId).not.toBe(busy.hostId);
    }
  });

  it('a poison test is isolated and reported lost after requeueLimit, while its batch-mates pass, and breaks no host', async () => {
    const view = await lab.run(batchRun([...ids(15), 'poison-1', ...ids(14, 'u')], { requeueLimit: 2 }), 90_000);
    const run = view.batchRuns![0]!;
    expect(view.result).toBe('aborted');
    expect(run.counts).toMatchObject({ total: 30, passed: 29, lost: 1 });
    expect(run.isolated.map((t) => t.test)).toEqual(['poison-1']);
    expect(run.isolated[0]!.reason).toMatch(/running when its batch .* ended: .*killed by SIGSEGV/);
    expect(run.lost).toEqual([
      { test: 'poison-1', reason: expect.stringMatching(/^lost 3 times \(requeueLimit 2\): \d\d:\d\d:\d\d on b\d: /) },
    ]);
    const poison = (await verdictsOf(run)).get('poison-1')!;
    expect(poison).toMatchObject({ verdict: 'lost', attempts: 3 });
    // Requeued to a different host each time.
    expect(new Set(poison.history.map((a) => a.hostId)).size).toBe(3);
    expect((await lab.api.hosts()).hosts.filter((h) => h.broken)).toEqual([]);
  });

  it('a poison test that crashes its runner with exit code 1 (an uncaught exception) mid-test is isolated too', async () => {
    const view = await lab.run(
      batchRun([...ids(6), 'poison-1', ...ids(6, 'u')], {
        batchSize: 13,
        maxHosts: 1,
        requeueLimit: 1,
        settings: { TEST_MS: '20', POISON: 'throw' },
      }),
      90_000,
    );
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 13, passed: 12, lost: 1 });
    expect(run.isolated).toEqual([
      {
        test: 'poison-1',
        reason: expect.stringMatching(
          /^running when its batch .* ended: batch runner exited with code 1 with 7 of 13 tests unreported$/,
        ),
      },
    ]);
    const verdicts = await verdictsOf(run);
    expect(verdicts.get('poison-1')).toMatchObject({ verdict: 'lost', attempts: 2 });
    // Its batch-mates that never started went back to the normal queue, not to isolation.
    expect(verdicts.get('u1')!.history.map((a) => a.outcome)).toEqual(['lost', 'passed']);
  });

  it('poison tests on the only host that can take them never break it (the default breaker counts host faults only)', async () => {
    // Four crashes in a row on b1 (one in a shared batch, three alone): the test's fault, not b1's.
    const view = await lab.run(
      batchRun([...ids(4), 'poison-1', ...ids(4, 'u')], { hostRequires: ['slot == b1'], requeueLimit: 3 }),
      90_000,
    );
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 9, passed: 8, lost: 1 });
    expect(run.lost[0]!.reason).toMatch(/^lost 4 times \(requeueLimit 3\)/);
    const b1 = (await lab.host('b1'))!;
    expect(b1.broken).toBeUndefined();
    expect(b1.consecutiveAborts).toBe(0);
  });

  it('a host whose runners keep dying is broken by the default breaker; the rest of the run goes elsewhere', async () => {
    // maxRequeueRatio 1: up to three lost batches' worth of requeues must fit the budget (the floor is two).
    const { id } = await lab.submit(
      batchRun(ids(40), { settings: { TEST_MS: '100' }, batchSize: 5, maxHosts: 3, maxRequeueRatio: 1 }),
    );
    // Something on b1 kills every batch runner as soon as it starts (a bad host, not bad tests).
    const killed = new Set<number>();
    let killing = true;
    const killer = (async () => {
      while (killing) {
        const files = await fs.readdir(path.join(lab.workDirOf('b1'), 'runners')).catch(() => [] as string[]);
        for (const f of files.filter((n) => n.endsWith('.pid'))) {
          const pgid = Number(
            await fs.readFile(path.join(lab.workDirOf('b1'), 'runners', f), 'utf8').catch(() => 'NaN'),
          );
          if (Number.isInteger(pgid) && !killed.has(pgid)) {
            killed.add(pgid);
            try {
              process.kill(-pgid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        }
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
    let view;
    try {
      view = await lab.waitForSubmission(id, 120_000);
    } finally {
      killing = false;
      await killer;
    }
    const run = view.batchRuns![0]!;
    expect(view.result).toBe('passed');
    expect(run.counts).toMatchObject({ total: 40, passed: 40, lost: 0 });
    const b1 = (await lab.host('b1'))!;
    expect(b1.broken).toMatchObject({
      source: 'aborts',
      reason: expect.stringMatching(/^3 consecutive aborts; last: batch runner was killed by SIGKILL/),
    });
    expect(killed.size).toBeGreaterThanOrEqual(3);
    // No test passed on b1; the suspects of its dead batches passed elsewhere.
    const verdicts = await verdictsOf(run);
    expect([...verdicts.values()].filter((v) => decisive(v)?.hostId === 'b1')).toEqual([]);
  });

  it('requeued tests go to another host, one the run had not leased yet, without churning the lease', async () => {
    const before = await leaseCounts();
    const view = await lab.run(
      batchRun([...ids(3), 'poison-1', ...ids(8, 'u')], { batchSize: 12, maxHosts: 1, requeueLimit: 1 }),
      90_000,
    );
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 12, passed: 11, lost: 1 });
    const verdicts = await verdictsOf(run);
    const first = verdicts.get('t1')!.history[0]!.hostId;
    for (const t of ids(8, 'u')) {
      const v = verdicts.get(t)!;
      expect(v.history[0]).toMatchObject({ outcome: 'lost', hostId: first });
      expect(decisive(v)!.hostId).not.toBe(first);
    }
    const poison = verdicts.get('poison-1')!;
    expect(poison.history.map((a) => a.hostId)[1]).not.toBe(first);
    // The host the batch died on was leased once: it did not hand its lease back only to get it again.
    const after = await leaseCounts();
    expect(after.get(first)! - before.get(first)!).toBe(1);
  });

  it('a hanging test hits the batch timeout; the rest of the batch is requeued and passes', async () => {
    const view = await lab.run(
      batchRun([...ids(4), 'hang-1', ...ids(4, 'v')], { batchSize: 9, batchTimeoutMs: 3_000, requeueLimit: 1 }),
      90_000,
    );
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 9, passed: 8, lost: 1 });
    expect(run.lost[0]).toMatchObject({
      test: 'hang-1',
      reason: expect.stringContaining('batch exceeded batchTimeoutMs (3 s)'),
    });
    expect(run.lostBatches).toBe(2);
  });

  it('testTimeoutMs stops a hanging test while its batch goes on heartbeating (the runner says testStarted)', async () => {
    const view = await lab.run(
      batchRun([...ids(3), 'hang-1', ...ids(3, 'v')], { batchSize: 7, testTimeoutMs: 1_500, requeueLimit: 1 }),
      90_000,
    );
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 7, passed: 6, lost: 1 });
    expect(run.isolated).toEqual([
      { test: 'hang-1', reason: expect.stringMatching(/: test hang-1 exceeded testTimeoutMs \(1.5 s\)$/) },
    ]);
    expect(run.lost[0]!.reason).toMatch(
      /^lost 2 times \(requeueLimit 1\): .*test hang-1 exceeded testTimeoutMs \(1.5 s\)/,
    );
  });

  it('a shell runner reports through TESTBAY_PROGRESS_FILE', async () => {
    const script =
      'while read -r t; do echo "{\\"testStarted\\": \\"$t\\"}" >> "$TESTBAY_PROGRESS_FILE"; echo "{\\"test\\": {\\"name\\": \\"$t\\", \\"status\\": \\"passed\\"}}" >> "$TESTBAY_PROGRESS_FILE"; done < "$TESTBAY_TESTS_FILE"';
    const view = await lab.run(batchRun(ids(6), { runner: { command: ['sh', '-c', script] }, batchSize: 3 }));
    expect(view.batchRuns![0]!.counts).toMatchObject({ total: 6, passed: 6 });
  });

  it('a frozen host: its batch is rerun elsewhere; its late results are kept as history, never as verdicts', async () => {
    const { id } = await lab.submit(batchRun(ids(16), { settings: { TEST_MS: '400' }, batchSize: 8, maxHosts: 1 }));
    const busy = await waitFor('the batch to be running', async () => (await runOf(id)).running[0]);
    await waitFor('a test to finish', async () => /^ok /m.test(await lab.api.log(busy.batchId)), 30_000);
    const pgid = Number(
      await fs.readFile(path.join(lab.workDirOf(busy.hostId), 'runners', `${busy.batchId}.pid`), 'utf8'),
    );
    lab.signalHost(busy.hostId, 'SIGSTOP');
    const before = await waitFor(
      'the frozen batch to be given up',
      async () => {
        const job = await lab.api.job(busy.batchId);
        return job.result ? job : undefined;
      },
      30_000,
      200,
    );
    expect(before.result).toMatchObject({ kind: 'aborted', cause: 'host-lost' });
    // It wakes up while the run still goes on elsewhere: its runner went on meanwhile.
    lab.signalHost(busy.hostId, 'SIGCONT');
    const view = await lab.waitForSubmission(id, 90_000);
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 16, passed: 16, lost: 0 });
    await waitFor('the frozen runner to be stopped', () => groupMembers(pgid).length === 0, 20_000);
    // Fenced: the batch record took nothing more from the woken host.
    const after = await lab.api.job(busy.batchId);
    expect(after.logBytes).toBe(before.logBytes);
    expect(after.tests).toEqual(before.tests);
    const verdicts = await verdictsOf(run);
    expect(verdicts.size).toBe(16);
    const late = [...verdicts.values()].filter((v) => v.late > 0);
    expect(late.length).toBeGreaterThan(0);
    for (const v of late) {
      expect(v.verdict).toBe('passed');
      expect(v.history.filter((a) => a.outcome === 'late')).toEqual([
        expect.objectContaining({ batchId: busy.batchId, hostId: busy.hostId, status: 'passed' }),
      ]);
      expect(decisive(v)!.hostId).not.toBe(busy.hostId);
    }
    expect((await runOf(id)).counts.passed).toBe(16);
  });

  it("a frozen host that wakes after its shard's verdicts were stored: its late results are kept beside them", async () => {
    // 40 tests, 20 a shard (the lab's TESTBAY_BATCH_SHARD_TESTS), one batch a shard.
    const { id } = await lab.submit(batchRun(ids(40), { settings: { TEST_MS: '250' }, batchSize: 20, maxHosts: 1 }));
    const busy = await waitFor('the batch to be running', async () => (await runOf(id)).running[0]);
    await waitFor('a test to finish', async () => /^ok /m.test(await lab.api.log(busy.batchId)), 30_000);
    lab.signalHost(busy.hostId, 'SIGSTOP');
    const run = await runOf(id);
    // The first shard ends elsewhere and its verdicts are stored while the host sleeps.
    await waitFor(
      'the first shard to be stored',
      async () => (await lab.api.verdicts(run.id)).verdicts.length >= 20,
      60_000,
      200,
    );
    lab.signalHost(busy.hostId, 'SIGCONT');
    const view = await lab.waitForSubmission(id, 90_000);
    expect(view.batchRuns![0]!.counts).toMatchObject({ total: 40, passed: 40, lost: 0 });
    const late = await waitFor(
      'the late results to be kept',
      async () => {
        const v = [...(await verdictsOf(run)).values()].filter((x) => x.late > 0);
        return v.length > 0 ? v : undefined;
      },
      20_000,
      200,
    );
    for (const v of late) {
      expect(v.verdict).toBe('passed');
      expect(v.attempts).toBe(v.history.filter((a) => a.outcome !== 'late' && a.outcome !== 'not-started').length);
      expect(v.history.filter((a) => a.outcome === 'late')).toEqual([
        expect.objectContaining({ batchId: busy.batchId, hostId: busy.hostId, status: 'passed' }),
      ]);
      expect(decisive(v)!.hostId).not.toBe(busy.hostId);
    }
    const verdicts = await verdictsOf(run);
    expect(verdicts.size).toBe(40);
  });

  it('a host told to shut down mid-batch: its unfinished tests rerun elsewhere, never cancelled; the run passes', async () => {
    const { id } = await lab.submit(batchRun(ids(12), { settings: { TEST_MS: '500' }, batchSize: 12, maxHosts: 1 }));
    const busy = await waitFor('the batch to be running', async () => (await runOf(id)).running[0]);
    await waitFor('a test to finish', async () => /^ok /m.test(await lab.api.log(busy.batchId)), 30_000);
    // The lab's shutdown deadline is 2 s: the batch needs 6.
    await lab.stopHost(busy.hostId, 'SIGTERM');
    const view = await lab.waitForSubmission(id, 90_000);
    const run = view.batchRuns![0]!;
    expect(view.result).toBe('passed');
    expect(run.counts).toMatchObject({ total: 12, passed: 12, cancelled: 0, lost: 0 });
    expect((await lab.api.job(busy.batchId)).result).toEqual({
      kind: 'aborted',
      cause: 'host-shutdown',
      reason: `host ${busy.hostId} shutting down`,
    });
    const verdicts = await verdictsOf(run);
    const interrupted = [...verdicts.values()].filter((v) => v.history.some((a) => a.outcome === 'interrupted'));
    expect(interrupted.length).toBeGreaterThan(0);
    for (const v of interrupted) expect(decisive(v)!.hostId).not.toBe(busy.hostId);
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
    for await (const wf of lab.temporal.workflow.list({ query: `WorkflowId = "${run.workflowId}"` }))
      runs.push(wf.runId);
    expect(runs).toHaveLength(3);
  });

  it('lists its tests with a command on a host, and fails fast when no host can take batches', async () => {
    const listed = await lab.run(
      batchRun([], { tests: undefined, testsCommand: ['sh', '-c', 'for i in 1 2 3 4 5; do echo case-$i; done'] }),
    );
    expect(listed.batchRuns![0]!.counts).toMatchObject({ total: 5, passed: 5 });
    // Cancelled while listing: the command and what it started are stopped on the host.
    const slow = await lab.submit(
      batchRun([], { tests: undefined, testsCommand: ['sh', '-c', 'sleep 300 & sleep 300'] }),
    );
    const runId = `${slow.id}.1`;
    const pidFile = await waitFor('the listing to run', async () => {
      for (const h of HOSTS) {
        const file = path.join(lab.workDirOf(h), 'runners', `${runId}.list.pid`);
        if (await fs.stat(file).catch(() => undefined)) return file;
      }
      return undefined;
    });
    const pgid = Number(await fs.readFile(pidFile, 'utf8'));
    await lab.submitter.cancelSubmission(slow.id, 'no need');
    expect((await lab.waitForSubmission(slow.id)).batchRuns![0]!.result).toBe('cancelled');
    await waitFor('the listing command to be stopped', () => groupMembers(pgid).length === 0, 15_000);

    const broken = await lab.run(
      batchRun([], { tests: undefined, testsCommand: ['sh', '-c', 'echo no such suite >&2; exit 3'] }),
    );
    expect(broken.batchRuns![0]).toMatchObject({
      result: 'aborted',
      reason: expect.stringMatching(
        /^could not list the tests on b\d: testsCommand .* ended with code 3: no such suite$/,
      ),
    });

    await lab.api.setMaintenance('b3', true);
    try {
      const started = Date.now();
      const view = await lab.run(batchRun(ids(5), { hostRequires: ['slot == b3'] }));
      expect(Date.now() - started).toBeLessThan(20_000);
      const run = view.batchRuns![0]!;
      expect(run.counts).toMatchObject({ total: 5, lost: 5 });
      expect(run.reason).toMatch(
        /^no host can take batches: no host of class local with slot == b3 can take work: b3 maintenance/,
      );
    } finally {
      await lab.api.setMaintenance('b3', false);
    }
  });

  it('rerunning a finished batch run reruns only its failed and lost tests; a pass after a failure is flaky', async () => {
    const view = await lab.run(
      batchRun(['ok-1', 'fail-1', 'flaky-1', 'ok-2'], {
        retryFailed: 1,
        settings: { TEST_MS: '20', FLAKY_DIR: path.join(lab.dir, 'flaky') },
      }),
    );
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
