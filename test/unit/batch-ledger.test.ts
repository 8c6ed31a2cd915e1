import { describe, expect, it } from 'vitest';
import {
  countLedger,
  countsForBreaker,
  endBatch,
  hasWorkFor,
  hostFaultsInARow,
  isDone,
  lostHostsOfWaiting,
  newLedger,
  recordLate,
  recordTest,
  settleWaiting,
  strandedOn,
  takeBatch,
  takeBlame,
  takeVerdicts,
  verdictRecord,
  withLateReports,
  type BatchPolicy,
  type Placement,
} from '../../src/domain/batch-ledger.js';

const policy = (p: Partial<BatchPolicy> = {}): BatchPolicy => ({
  batchSize: 3,
  requeueLimit: 2,
  maxRequeueRatio: 10,
  retryFailed: 0,
  ...p,
});
const ids = (n: number) => Array.from({ length: n }, (_, i) => `t${i + 1}`);
/** The only host of the run, and the lab has no other. */
const alone: Placement = { otherHosts: [], noOtherHost: true };
/** n other hosts in the run (o1..on). */
const others = (n: number): Placement => ({
  otherHosts: Array.from({ length: n }, (_, i) => `o${i + 1}`),
  noOtherHost: false,
});

describe('batch ledger', () => {
  it('hands out batches in order and finishes when every test has a verdict', () => {
    const l = newLedger(ids(5), policy());
    const b1 = takeBatch(l, 'h1', 'b1', alone, 0)!;
    const b2 = takeBatch(l, 'h1', 'b2', alone, 0)!;
    expect([b1.tests, b2.tests]).toEqual([
      ['t1', 't2', 't3'],
      ['t4', 't5'],
    ]);
    expect(takeBatch(l, 'h1', 'b3', alone, 0)).toBeUndefined();
    for (const b of [b1, b2]) {
      for (const t of b.tests) recordTest(l, b.batchId, b.hostId, { test: t, status: 'passed' }, 1);
      endBatch(l, b.batchId, { kind: 'completed', reason: 'exit 0', progressKnown: true }, 2);
    }
    expect(isDone(l)).toBe(true);
    expect(countLedger(l)).toMatchObject({ total: 5, passed: 5, running: 0, queued: 0 });
  });

  it('an empty queue is not completion while a batch is out', () => {
    const l = newLedger(ids(2), policy());
    takeBatch(l, 'h1', 'b1', alone, 0);
    expect(isDone(l)).toBe(false);
    expect(countLedger(l).running).toBe(2);
  });

  it('shrinks the last batches so every host shares the tail', () => {
    const l = newLedger(ids(20), policy({ batchSize: 8 }));
    expect(takeBatch(l, 'h1', 'b1', others(2), 0)!.tests).toHaveLength(7);
    expect(takeBatch(l, 'h2', 'b2', others(2), 0)!.tests).toHaveLength(5);
    expect(takeBatch(l, 'h3', 'b3', others(2), 0)!.tests).toHaveLength(3);
    expect(takeBatch(l, 'h1', 'b4', others(2), 0)!.tests).toHaveLength(2); // never below a quarter batch, but no more than is left
    expect(takeBatch(l, 'h2', 'b5', others(2), 0)!.tests).toHaveLength(2);
    expect(takeBatch(l, 'h3', 'b6', others(2), 0)!.tests).toHaveLength(1);
  });

  it('keeps finished results of a lost batch, isolates the suspect, requeues the untouched batch-mates', () => {
    const l = newLedger(ids(3), policy());
    const b = takeBatch(l, 'h1', 'b1', alone, 0)!;
    recordTest(l, 'b1', 'h1', { test: 't1', status: 'passed' }, 1);
    const out = endBatch(
      l,
      b.batchId,
      { kind: 'host-lost', reason: 'host h1 stopped heartbeating', current: 't2', progressKnown: true },
      2,
    );
    expect(out).toEqual({ requeued: ['t3'], isolated: ['t2'], settled: [], fault: 'host' });
    expect(l.tests.t1!.verdict).toBe('passed');
    expect(l.tests.t2!.isolated).toMatch(/running when its batch b1 ended/);
    // Requeued tests avoid the host they were lost on while another host is there; the suspect comes alone.
    expect(hasWorkFor(l, 'h1', others(1))).toBe(false);
    expect(takeBatch(l, 'h1', 'b2', others(1), 3)).toBeUndefined();
    expect(takeBatch(l, 'h2', 'b3', others(1), 3)!.tests).toEqual(['t2']);
    expect(takeBatch(l, 'h2', 'b4', others(1), 3)!.tests).toEqual(['t3']);
    // With no other host, the same host takes them.
    const solo = newLedger(['x'], policy());
    takeBatch(solo, 'h1', 'b1', alone, 0);
    endBatch(solo, 'b1', { kind: 'crashed', reason: 'crash', current: 'x', progressKnown: true }, 1);
    // While the lab may still have another host, it waits for one.
    expect(hasWorkFor(solo, 'h1', { otherHosts: [], noOtherHost: false })).toBe(false);
    expect(takeBatch(solo, 'h1', 'b2', alone, 2)!.tests).toEqual(['x']);
  });

  it('isolates every unfinished test when the progress is unknown', () => {
    const l = newLedger(ids(3), policy());
    takeBatch(l, 'h1', 'b1', alone, 0);
    expect(endBatch(l, 'b1', { kind: 'timeout', reason: 'batch timed out', progressKnown: false }, 1).isolated).toEqual(
      ['t1', 't2', 't3'],
    );
  });

  it('reports a test lost after requeueLimit, with every attempt', () => {
    const l = newLedger(['poison'], policy({ requeueLimit: 2 }));
    for (let i = 1; i <= 3; i++) {
      takeBatch(l, `h${i}`, `b${i}`, alone, i * 1000);
      endBatch(
        l,
        `b${i}`,
        { kind: 'crashed', reason: 'runner killed by SIGSEGV', current: 'poison', progressKnown: true },
        i * 1000,
      );
    }
    const t = l.tests.poison!;
    expect(t.verdict).toBe('lost');
    expect(t.reason).toMatch(
      /^lost 3 times \(requeueLimit 2\): 00:00:01 on h1: runner killed by SIGSEGV; 00:00:02 on h2: .*; 00:00:03 on h3: /,
    );
    expect(isDone(l)).toBe(true);
  });

  it('counts a test exactly once: a late result from an earlier batch is history, not a verdict', () => {
    const l = newLedger(['t1'], policy());
    takeBatch(l, 'h1', 'b1', others(1), 0);
    endBatch(l, 'b1', { kind: 'host-lost', reason: 'frozen', current: 't1', progressKnown: true }, 1);
    takeBatch(l, 'h2', 'b2', others(1), 2);
    expect(recordTest(l, 'b2', 'h2', { test: 't1', status: 'passed' }, 3)).toBe('accepted');
    expect(recordTest(l, 'b1', 'h1', { test: 't1', status: 'failed' }, 4)).toBe('late');
    expect(recordTest(l, 'b2', 'h2', { test: 't1', status: 'failed' }, 5)).toBe('late');
    expect(l.tests.t1!.verdict).toBe('passed');
    expect(l.tests.t1!.attempts.map((a) => a.outcome)).toEqual(['suspect', 'passed', 'late', 'late']);
  });

  it('never requeues a failed test unless asked; a pass after a failure is flaky', () => {
    const l = newLedger(['a', 'b'], policy({ retryFailed: 1 }));
    takeBatch(l, 'h1', 'b1', alone, 0);
    recordTest(l, 'b1', 'h1', { test: 'a', status: 'failed', message: 'boom' }, 1);
    recordTest(l, 'b1', 'h1', { test: 'b', status: 'failed' }, 1);
    endBatch(l, 'b1', { kind: 'completed', reason: 'exit 1', progressKnown: true }, 2);
    takeBatch(l, 'h1', 'b2', alone, 3);
    recordTest(l, 'b2', 'h1', { test: 'a', status: 'passed' }, 4);
    recordTest(l, 'b2', 'h1', { test: 'b', status: 'failed' }, 4);
    endBatch(l, 'b2', { kind: 'completed', reason: 'exit 1', progressKnown: true }, 5);
    expect([l.tests.a!.verdict, l.tests.b!.verdict]).toEqual(['flaky', 'failed']);
    expect(l.tests.a!.requeues).toBe(0);
    const noRetry = newLedger(['c'], policy());
    takeBatch(noRetry, 'h1', 'b1', alone, 0);
    recordTest(noRetry, 'b1', 'h1', { test: 'c', status: 'failed' }, 1);
    expect(noRetry.tests.c!.verdict).toBe('failed');
  });

  it('stops requeuing past maxRequeueRatio (but not before two lost batches) and says so', () => {
    const l = newLedger(ids(100), policy({ batchSize: 5, maxRequeueRatio: 0.1 }));
    const lose = (n: number) => {
      takeBatch(l, 'h1', `b${n}`, alone, n);
      return endBatch(l, `b${n}`, { kind: 'crashed', reason: 'crash', current: 'none', progressKnown: true }, n);
    };
    expect(lose(1).settled).toEqual([]);
    expect(lose(2).settled).toEqual([]);
    const third = lose(3);
    expect(third.requeued).toHaveLength(0);
    expect(third.settled).toHaveLength(5);
    expect(l.tests[third.settled[0]!]!.reason).toMatch(
      /^stopped requeuing: 11 requeues exceed the run's budget of 10 \(maxRequeueRatio 0.1 of 100 tests, at least two batches' worth\)/,
    );
  });

  it('settles what waits when the run is cancelled or no host is left', () => {
    const l = newLedger(ids(4), policy({ batchSize: 2 }));
    takeBatch(l, 'h1', 'b1', alone, 0);
    expect(settleWaiting(l, 'cancelled', 'cancelled by tester')).toEqual(['t3', 't4']);
    endBatch(l, 'b1', { kind: 'cancelled', reason: 'cancelled by tester', progressKnown: true }, 1);
    expect(countLedger(l)).toMatchObject({ cancelled: 4 });
    expect(isDone(l)).toBe(true);
  });

  it('a runner that exits non-zero mid-test (no signal) makes the test it was in the suspect', () => {
    const l = newLedger(ids(3), policy());
    takeBatch(l, 'h1', 'b1', alone, 0);
    recordTest(l, 'b1', 'h1', { test: 't1', status: 'passed' }, 1);
    // The host reports such an exit as crashed; a "completed" end with tests unreported is read the same way.
    for (const kind of ['crashed', 'completed'] as const) {
      const m = newLedger(ids(3), policy());
      takeBatch(m, 'h1', 'b1', alone, 0);
      recordTest(m, 'b1', 'h1', { test: 't1', status: 'passed' }, 1);
      const out = endBatch(
        m,
        'b1',
        {
          kind,
          reason: 'batch runner exited with code 1 with 2 of 3 tests unreported',
          current: 't2',
          progressKnown: true,
        },
        2,
      );
      expect(out).toMatchObject({ isolated: ['t2'], requeued: ['t3'], fault: 'pending' });
      expect(m.tests.t2!.isolated).toMatch(/^running when its batch b1 ended: batch runner exited with code 1/);
    }
  });

  it("a poison test that kills its isolated batch too is the test's fault, not its hosts'", () => {
    const l = newLedger(['a', 'poison', 'b'], policy({ requeueLimit: 2 }));
    takeBatch(l, 'h1', 'b1', alone, 0);
    recordTest(l, 'b1', 'h1', { test: 'a', status: 'passed' }, 1);
    expect(
      endBatch(l, 'b1', { kind: 'crashed', reason: 'killed by SIGSEGV', current: 'poison', progressKnown: true }, 2)
        .fault,
    ).toBe('pending');
    expect(takeBlame(l)).toEqual([]);
    const b2 = takeBatch(l, 'h2', 'b2', others(2), 3)!;
    expect(b2.tests).toEqual(['poison']);
    expect(
      endBatch(l, 'b2', { kind: 'crashed', reason: 'killed by SIGSEGV', current: 'poison', progressKnown: true }, 4)
        .fault,
    ).toBe('test');
    expect(takeBlame(l)).toEqual([{ batchId: 'b1', hostId: 'h1', fault: 'test' }]);
    takeBatch(l, 'h3', 'b3', others(2), 5);
    expect(
      endBatch(l, 'b3', { kind: 'crashed', reason: 'killed by SIGSEGV', current: 'poison', progressKnown: true }, 6),
    ).toMatchObject({ fault: 'test', settled: ['poison'] });
    expect(l.tests.poison!.verdict).toBe('lost');
  });

  it("a suspect that then runs fine elsewhere clears itself: the batch it died in was its host's fault", () => {
    const l = newLedger(['a', 'b'], policy());
    takeBatch(l, 'h1', 'b1', others(1), 0);
    endBatch(
      l,
      'b1',
      { kind: 'crashed', reason: 'batch runner was killed by SIGKILL', current: 'a', progressKnown: true },
      1,
    );
    takeBatch(l, 'h2', 'b2', others(1), 2);
    recordTest(l, 'b2', 'h2', { test: 'a', status: 'passed' }, 3);
    expect(takeBlame(l)).toEqual([{ batchId: 'b1', hostId: 'h1', fault: 'host' }]);
    // Lost hosts and runners that die between tests are the host's fault at once.
    const m = newLedger(ids(4), policy({ batchSize: 2 }));
    takeBatch(m, 'h1', 'b1', alone, 0);
    expect(
      endBatch(m, 'b1', { kind: 'host-lost', reason: 'stopped heartbeating', current: 't1', progressKnown: true }, 1)
        .fault,
    ).toBe('host');
    takeBatch(m, 'h1', 'b2', alone, 2);
    expect(
      endBatch(m, 'b2', { kind: 'crashed', reason: 'could not start the batch runner: ENOENT', progressKnown: true }, 3)
        .fault,
    ).toBe('host');
  });

  it("counts a host's own faults in a row for its breaker, passing over batches lost to tests or not yet judged", () => {
    const e = (kind: string, fault: 'host' | 'test' | 'pending' | 'none') => ({ result: { kind }, fault });
    expect(
      hostFaultsInARow([
        e('aborted', 'host'),
        e('passed', 'none'),
        e('aborted', 'host'),
        e('aborted', 'test'),
        e('aborted', 'pending'),
        e('aborted', 'host'),
      ]),
    ).toBe(2);
    expect(hostFaultsInARow([e('aborted', 'host'), e('aborted', 'host'), e('aborted', 'host')])).toBe(3);
    expect(hostFaultsInARow([e('aborted', 'test'), e('aborted', 'test'), e('aborted', 'test')])).toBe(0);
    expect(
      [
        e('aborted', 'host'),
        e('aborted', 'test'),
        e('aborted', 'pending'),
        e('passed', 'none'),
        e('failed', 'none'),
        e('aborted', 'none'),
      ].map(countsForBreaker),
    ).toEqual([true, false, false, true, false, false]);
  });

  it('leaves tests lost on a host for the others, and to it again only when the lab has no other host', () => {
    const l = newLedger(ids(2), policy());
    takeBatch(l, 'h1', 'b1', alone, 0);
    endBatch(l, 'b1', { kind: 'crashed', reason: 'crash', progressKnown: true }, 1);
    expect(lostHostsOfWaiting(l)).toEqual(['h1']);
    expect(strandedOn(l, ['h1'])).toBe(2);
    expect(strandedOn(l, ['h1', 'h2'])).toBe(0);
    // h2 is in the run: h1 leaves them to it, even when the lab has no third host.
    expect(hasWorkFor(l, 'h1', { otherHosts: ['h2'], noOtherHost: true })).toBe(false);
    expect(hasWorkFor(l, 'h2', { otherHosts: ['h1'], noOtherHost: true })).toBe(true);
    // Lost on both: with no other host in the lab, either may take them.
    takeBatch(l, 'h2', 'b2', { otherHosts: [], noOtherHost: false }, 2);
    endBatch(l, 'b2', { kind: 'crashed', reason: 'crash', progressKnown: true }, 3);
    expect(strandedOn(l, ['h1', 'h2'])).toBe(2);
    expect(hasWorkFor(l, 'h1', { otherHosts: ['h2'], noOtherHost: false })).toBe(false);
    expect(takeBatch(l, 'h1', 'b3', { otherHosts: ['h2'], noOtherHost: true }, 4)!.tests).toEqual(['t1']); // the tail is shared with h2
  });

  it('a batch that never started, or that its host stopped to shut down, puts its tests back without charging them', () => {
    for (const kind of ['not-started', 'host-shutdown'] as const) {
      const l = newLedger(ids(2), policy({ requeueLimit: 0 }));
      takeBatch(l, 'h1', 'b1', alone, 0);
      const out = endBatch(
        l,
        'b1',
        { kind, reason: 'host h1 did not pick up batch b1 within 5 s', progressKnown: kind === 'not-started' },
        1,
      );
      expect(out).toMatchObject({
        requeued: ['t1', 't2'],
        isolated: [],
        settled: [],
        fault: kind === 'not-started' ? 'host' : 'none',
      });
      expect(l.tests.t1!).toMatchObject({ requeues: 0, lostOn: [] });
      expect(l.requeuesTotal).toBe(0);
      takeBatch(l, 'h2', 'b2', alone, 2);
      recordTest(l, 'b2', 'h2', { test: 't1', status: 'passed' }, 3);
      expect(verdictRecord(l.tests.t1!).attempts).toBe(kind === 'not-started' ? 1 : 2);
    }
  });

  it('keeps the run-wide requeue budget across shards', () => {
    // 100 tests in the run, ratio 0.1: 10 requeues (batch size 2: at least 4). Shard 1 spent 9.
    const shard2 = newLedger(ids(5), policy({ batchSize: 2, maxRequeueRatio: 0.1 }), { tests: 100, requeues: 9 });
    takeBatch(shard2, 'h1', 'b1', alone, 0);
    const out = endBatch(shard2, 'b1', { kind: 'crashed', reason: 'crash', progressKnown: true }, 1);
    expect(out.requeued).toEqual(['t1']);
    expect(out.settled).toEqual(['t2']);
    expect(shard2.budgetSpent).toMatch(
      /^stopped requeuing: 11 requeues exceed the run's budget of 10 \(maxRequeueRatio 0.1 of 100 tests/,
    );
    // A shard after the budget was spent requeues nothing.
    const shard3 = newLedger(ids(2), policy({ batchSize: 2, maxRequeueRatio: 0.1 }), {
      tests: 100,
      requeues: 11,
      budgetSpent: shard2.budgetSpent!,
    });
    takeBatch(shard3, 'h1', 'b1', alone, 0);
    expect(endBatch(shard3, 'b1', { kind: 'crashed', reason: 'crash', progressKnown: true }, 1).settled).toEqual([
      't1',
      't2',
    ]);
  });

  it('keeps late results of a fenced batch in the history without changing a verdict', () => {
    const l = newLedger(['t1', 't2', 't3'], policy());
    takeBatch(l, 'h1', 'b1', alone, 0);
    // The last heartbeat had t1; then the host froze and Temporal gave the batch up.
    recordTest(l, 'b1', 'h1', { test: 't1', status: 'passed' }, 1);
    endBatch(
      l,
      'b1',
      { kind: 'host-lost', reason: 'stopped heartbeating', current: 't2', progressKnown: true, fenced: true },
      2,
    );
    takeBatch(l, 'h2', 'b2', others(1), 3); // t2, isolated
    recordTest(l, 'b2', 'h2', { test: 't2', status: 'passed' }, 4);
    endBatch(l, 'b2', { kind: 'completed', reason: 'exit 0', progressKnown: true }, 5);
    takeBatch(l, 'h2', 'b3', others(1), 6); // t3
    recordTest(l, 'b3', 'h2', { test: 't3', status: 'passed' }, 7);
    endBatch(l, 'b3', { kind: 'completed', reason: 'exit 0', progressKnown: true }, 8);
    // Tests of the fenced batch wait for its late results before their verdicts are stored.
    expect(takeVerdicts(l)).toEqual([]);
    // The frozen host wakes up and reports everything it ran: t1 again (the run has it), t2 failed, t3 passed.
    const late = [
      { test: 't1', status: 'passed' as const },
      { test: 't2', status: 'failed' as const, message: 'late failure' },
      { test: 't3', status: 'passed' as const },
    ];
    expect(recordLate(l, 'b1', 'h1', late, 9)).toBe(2);
    expect(recordLate(l, 'b1', 'h1', late, 10)).toBe(0);
    expect([l.tests.t1!.verdict, l.tests.t2!.verdict, l.tests.t3!.verdict]).toEqual(['passed', 'passed', 'passed']);
    const stored = takeVerdicts(l);
    expect(stored.map((v) => v.test)).toEqual(['t1', 't2', 't3']);
    expect(stored[1]).toMatchObject({ verdict: 'passed', attempts: 2, late: 1 });
    expect(stored[1]!.history.map((a) => [a.outcome, a.hostId, a.status])).toEqual([
      ['suspect', 'h1', undefined],
      ['passed', 'h2', undefined],
      ['late', 'h1', 'failed'],
    ]);
    expect(stored[0]).toMatchObject({ verdict: 'passed', attempts: 1, late: 0 });
    expect(takeVerdicts(l)).toEqual([]); // each stored once
  });

  it("stores held verdicts at the shard's end even when no late results came", () => {
    const l = newLedger(['t1'], policy());
    takeBatch(l, 'h1', 'b1', alone, 0);
    recordTest(l, 'b1', 'h1', { test: 't1', status: 'passed' }, 1);
    endBatch(l, 'b1', { kind: 'timeout', reason: 'took longer than 60 s', progressKnown: true, fenced: true }, 2);
    expect(takeVerdicts(l)).toEqual([]);
    expect(takeVerdicts(l, true).map((v) => v.test)).toEqual(['t1']);
  });

  it('late reports after a shard was stored go into the history of the tests that batch ran on that host, once, never as verdicts', () => {
    const stored = [
      {
        test: 't1',
        verdict: 'passed',
        attempts: 2,
        late: 0,
        history: [
          { batchId: 's.1.1', hostId: 'h1', at: 1, outcome: 'lost' },
          { batchId: 's.1.2', hostId: 'h2', at: 2, outcome: 'passed' },
        ],
      },
      {
        test: 't2',
        verdict: 'passed',
        attempts: 1,
        late: 0,
        history: [{ batchId: 's.1.1', hostId: 'h1', at: 1, outcome: 'passed' }],
      },
      {
        test: 't3',
        verdict: 'failed',
        attempts: 1,
        late: 0,
        history: [{ batchId: 's.1.3', hostId: 'h3', at: 1, outcome: 'failed' }],
      },
    ];
    const merged = withLateReports(stored, [
      // t1: lost in s.1.1 on h1, which reports it late; t2: a result that batch gave in time; t3: never in s.1.1
      {
        batchId: 's.1.1',
        hostId: 'h1',
        at: 9,
        results: [
          { test: 't1', status: 'passed', durationMs: 5 },
          { test: 't2', status: 'passed' },
          { test: 't3', status: 'passed' },
        ],
      },
      // the same batch again, and a host that never had the batch
      { batchId: 's.1.1', hostId: 'h1', at: 10, results: [{ test: 't1', status: 'failed' }] },
      { batchId: 's.1.2', hostId: 'h9', at: 11, results: [{ test: 't1', status: 'failed' }] },
    ]);
    expect(merged[0]).toEqual({
      ...stored[0],
      late: 1,
      history: [
        ...stored[0]!.history,
        { batchId: 's.1.1', hostId: 'h1', at: 9, outcome: 'late', status: 'passed', durationMs: 5 },
      ],
    });
    expect(merged[1]).toBe(stored[1]);
    expect(merged[2]).toBe(stored[2]);
    expect(merged.map((v) => [v.verdict, v.attempts])).toEqual(stored.map((v) => [v.verdict, v.attempts]));
    expect(withLateReports(stored, [])).toBe(stored);
  });
});
