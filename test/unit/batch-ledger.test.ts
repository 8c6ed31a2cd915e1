import { describe, expect, it } from 'vitest';
import { countLedger, endBatch, hasWorkFor, isDone, newLedger, recordTest, settleWaiting, takeBatch, type BatchPolicy } from '../../src/domain/batch-ledger.js';

const policy = (p: Partial<BatchPolicy> = {}): BatchPolicy => ({ batchSize: 3, requeueLimit: 2, maxRequeueRatio: 10, retryFailed: 0, ...p });
const ids = (n: number) => Array.from({ length: n }, (_, i) => `t${i + 1}`);

describe('batch ledger', () => {
  it('hands out batches in order and finishes when every test has a verdict', () => {
    const l = newLedger(ids(5), policy());
    const b1 = takeBatch(l, 'h1', 'b1', 0, 0)!;
    const b2 = takeBatch(l, 'h1', 'b2', 0, 0)!;
    expect([b1.tests, b2.tests]).toEqual([['t1', 't2', 't3'], ['t4', 't5']]);
    expect(takeBatch(l, 'h1', 'b3', 0, 0)).toBeUndefined();
    for (const b of [b1, b2]) {
      for (const t of b.tests) recordTest(l, b.batchId, b.hostId, { test: t, status: 'passed' }, 1);
      endBatch(l, b.batchId, { kind: 'completed', reason: 'exit 0', progressKnown: true }, 2);
    }
    expect(isDone(l)).toBe(true);
    expect(countLedger(l)).toMatchObject({ total: 5, passed: 5, running: 0, queued: 0 });
  });

  it('an empty queue is not completion while a batch is out', () => {
    const l = newLedger(ids(2), policy());
    takeBatch(l, 'h1', 'b1', 0, 0);
    expect(isDone(l)).toBe(false);
    expect(countLedger(l).running).toBe(2);
  });

  it('shrinks the last batches so every host shares the tail', () => {
    const l = newLedger(ids(20), policy({ batchSize: 8 }));
    expect(takeBatch(l, 'h1', 'b1', 2, 0)!.tests).toHaveLength(7);
    expect(takeBatch(l, 'h2', 'b2', 2, 0)!.tests).toHaveLength(5);
    expect(takeBatch(l, 'h3', 'b3', 2, 0)!.tests).toHaveLength(3);
    expect(takeBatch(l, 'h1', 'b4', 2, 0)!.tests).toHaveLength(2); // never below a quarter batch, but no more than is left
    expect(takeBatch(l, 'h2', 'b5', 2, 0)!.tests).toHaveLength(2);
    expect(takeBatch(l, 'h3', 'b6', 2, 0)!.tests).toHaveLength(1);
  });

  it('keeps finished results of a lost batch, isolates the suspect, requeues the untouched batch-mates', () => {
    const l = newLedger(ids(3), policy());
    const b = takeBatch(l, 'h1', 'b1', 0, 0)!;
    recordTest(l, 'b1', 'h1', { test: 't1', status: 'passed' }, 1);
    const out = endBatch(l, b.batchId, { kind: 'host-lost', reason: 'host h1 stopped heartbeating', current: 't2', progressKnown: true }, 2);
    expect(out).toEqual({ requeued: ['t3'], isolated: ['t2'], settled: [] });
    expect(l.tests.t1!.verdict).toBe('passed');
    expect(l.tests.t2!.isolated).toMatch(/running when its batch b1 ended/);
    // Requeued tests avoid the host they were lost on while another host is there; the suspect comes alone.
    expect(hasWorkFor(l, 'h1', 1)).toBe(false);
    expect(takeBatch(l, 'h1', 'b2', 1, 3)).toBeUndefined();
    expect(takeBatch(l, 'h2', 'b3', 1, 3)!.tests).toEqual(['t2']);
    expect(takeBatch(l, 'h2', 'b4', 1, 3)!.tests).toEqual(['t3']);
    // With no other host, the same host takes them.
    const alone = newLedger(['x'], policy());
    takeBatch(alone, 'h1', 'b1', 0, 0);
    endBatch(alone, 'b1', { kind: 'crashed', reason: 'crash', current: 'x', progressKnown: true }, 1);
    expect(takeBatch(alone, 'h1', 'b2', 0, 2)!.tests).toEqual(['x']);
  });

  it('isolates every unfinished test when the progress is unknown', () => {
    const l = newLedger(ids(3), policy());
    takeBatch(l, 'h1', 'b1', 0, 0);
    expect(endBatch(l, 'b1', { kind: 'timeout', reason: 'batch timed out', progressKnown: false }, 1).isolated).toEqual(['t1', 't2', 't3']);
  });

  it('reports a test lost after requeueLimit, with every attempt', () => {
    const l = newLedger(['poison'], policy({ requeueLimit: 2 }));
    for (let i = 1; i <= 3; i++) {
      takeBatch(l, `h${i}`, `b${i}`, 0, i * 1000);
      endBatch(l, `b${i}`, { kind: 'crashed', reason: 'runner killed by SIGSEGV', current: 'poison', progressKnown: true }, i * 1000);
    }
    const t = l.tests.poison!;
    expect(t.verdict).toBe('lost');
    expect(t.reason).toMatch(/^lost 3 times \(requeueLimit 2\): 00:00:01 on h1: runner killed by SIGSEGV; 00:00:02 on h2: .*; 00:00:03 on h3: /);
    expect(isDone(l)).toBe(true);
  });

  it('counts a test exactly once: a late result from an earlier batch is history, not a verdict', () => {
    const l = newLedger(['t1'], policy());
    takeBatch(l, 'h1', 'b1', 1, 0);
    endBatch(l, 'b1', { kind: 'host-lost', reason: 'frozen', current: 't1', progressKnown: true }, 1);
    takeBatch(l, 'h2', 'b2', 1, 2);
    expect(recordTest(l, 'b2', 'h2', { test: 't1', status: 'passed' }, 3)).toBe('accepted');
    expect(recordTest(l, 'b1', 'h1', { test: 't1', status: 'failed' }, 4)).toBe('late');
    expect(recordTest(l, 'b2', 'h2', { test: 't1', status: 'failed' }, 5)).toBe('late');
    expect(l.tests.t1!.verdict).toBe('passed');
    expect(l.tests.t1!.attempts.map((a) => a.outcome)).toEqual(['suspect', 'passed', 'late', 'late']);
  });

  it('never requeues a failed test unless asked; a pass after a failure is flaky', () => {
    const l = newLedger(['a', 'b'], policy({ retryFailed: 1 }));
    takeBatch(l, 'h1', 'b1', 0, 0);
    recordTest(l, 'b1', 'h1', { test: 'a', status: 'failed', message: 'boom' }, 1);
    recordTest(l, 'b1', 'h1', { test: 'b', status: 'failed' }, 1);
    endBatch(l, 'b1', { kind: 'completed', reason: 'exit 1', progressKnown: true }, 2);
    takeBatch(l, 'h1', 'b2', 0, 3);
    recordTest(l, 'b2', 'h1', { test: 'a', status: 'passed' }, 4);
    recordTest(l, 'b2', 'h1', { test: 'b', status: 'failed' }, 4);
    endBatch(l, 'b2', { kind: 'completed', reason: 'exit 1', progressKnown: true }, 5);
    expect([l.tests.a!.verdict, l.tests.b!.verdict]).toEqual(['flaky', 'failed']);
    expect(l.tests.a!.requeues).toBe(0);
    const noRetry = newLedger(['c'], policy());
    takeBatch(noRetry, 'h1', 'b1', 0, 0);
    recordTest(noRetry, 'b1', 'h1', { test: 'c', status: 'failed' }, 1);
    expect(noRetry.tests.c!.verdict).toBe('failed');
  });

  it('stops requeuing past maxRequeueRatio (but not before two lost batches) and says so', () => {
    const l = newLedger(ids(100), policy({ batchSize: 5, maxRequeueRatio: 0.1 }));
    const lose = (n: number) => {
      takeBatch(l, 'h1', `b${n}`, 0, n);
      return endBatch(l, `b${n}`, { kind: 'crashed', reason: 'crash', current: 'none', progressKnown: true }, n);
    };
    expect(lose(1).settled).toEqual([]);
    expect(lose(2).settled).toEqual([]);
    const third = lose(3);
    expect(third.requeued).toHaveLength(0);
    expect(third.settled).toHaveLength(5);
    expect(l.tests[third.settled[0]!]!.reason).toMatch(/^stopped requeuing: 11 requeues exceed the run's budget of 10 \(maxRequeueRatio 0.1 of 100 tests, at least two batches' worth\)/);
  });

  it('settles what waits when the run is cancelled or no host is left', () => {
    const l = newLedger(ids(4), policy({ batchSize: 2 }));
    takeBatch(l, 'h1', 'b1', 0, 0);
    expect(settleWaiting(l, 'cancelled', 'cancelled by tester')).toEqual(['t3', 't4']);
    endBatch(l, 'b1', { kind: 'cancelled', reason: 'cancelled by tester', progressKnown: true }, 1);
    expect(countLedger(l)).toMatchObject({ cancelled: 4 });
    expect(isDone(l)).toBe(true);
  });
});
