/**
 * The batch run as state and events (src/domain/batch-run-state.ts), without a server: a
 * test drives `apply(state, event, now)` as the workflow would (grants, denials, batch
 * ends, late results, cancel, ticks) and reads the commands. Requeue placement, the
 * breaker, the lonely-host wait, retry with exclusion, why a test is not retried, cancel.
 */
import { describe, expect, it } from 'vitest';
import type { BatchEnd, TestReport } from '../../src/domain/batch-ledger.js';
import { ELSEWHERE_WAIT_MS, newCarry } from '../../src/domain/batch-run.js';
import {
  apply,
  cancelUnstarted,
  endRun,
  newRunState,
  VERDICT_FLUSH_MS,
  type BatchCommand,
  type BatchRunRules,
  type BatchRunState,
} from '../../src/domain/batch-run-state.js';

const rules = (extra: Partial<BatchRunRules> = {}): BatchRunRules => ({
  batchSize: 3,
  requeueLimit: 2,
  maxRequeueRatio: 10,
  retryFailed: 0,
  maxHosts: 2,
  runJobId: 'sub1-1',
  requestPrefix: 'batch-sub1-1/run1',
  breakerAborts: 3,
  ...extra,
});
const ids = (n: number) => Array.from({ length: n }, (_, i) => `t${i + 1}`);
const passed = (tests: string[]): TestReport[] => tests.map((test) => ({ test, status: 'passed' }));
const lost = (reason = 'host went away'): BatchEnd => ({ kind: 'host-lost', reason, progressKnown: true });
const crashed = (current?: string): BatchEnd => ({
  kind: 'crashed',
  reason: 'runner crashed',
  progressKnown: current !== undefined,
  ...(current ? { current } : {}),
});
const completed: BatchEnd = { kind: 'completed', reason: 'exit 0', progressKnown: true };

function shard(n: number, extra: Partial<BatchRunRules> = {}): BatchRunState {
  const s = newRunState(rules(extra), newCarry({ testCount: n }), false, 0);
  apply(s, { kind: 'shard-loaded', tests: ids(n) }, 0);
  return s;
}

/** One pass of the shard as the workflow runs it: tick, then every awaited command done at once. */
function pass(s: BatchRunState, now: number): BatchCommand[] {
  const out = apply(s, { kind: 'tick' }, now);
  for (
    let next = apply(s, { kind: 'carried-out' }, now);
    next.length > 0;
    next = apply(s, { kind: 'carried-out' }, now)
  )
    out.push(...next);
  return out;
}

const of = <K extends BatchCommand['kind']>(cs: BatchCommand[], kind: K) =>
  cs.filter((c): c is BatchCommand & { kind: K } => c.kind === kind);

/** Grants the request and starts the host: its first step. */
function lease(s: BatchRunState, hostId: string, now = 0): BatchCommand[] {
  const request = s.pending[0]!;
  apply(s, { kind: 'granted', requestId: request.requestId, hostId, token: `tok-${hostId}` }, now);
  const started = of(apply(s, { kind: 'tick' }, now), 'start-host');
  expect(started.map((c) => c.hostId)).toEqual([hostId]);
  return apply(s, { ...started[0]!, kind: 'host-started' }, now);
}

function runBatch(cs: BatchCommand[]) {
  const [c] = of(cs, 'run-batch');
  expect(c, `a batch in ${JSON.stringify(cs)}`).toBeDefined();
  return c!;
}

describe('leases (retry with exclusion)', () => {
  it('asks for enough hosts for the waiting batches; a request made while a host is held excludes it', () => {
    const s = shard(9);
    const first = of(pass(s, 0), 'request-lease');
    expect(first.map((r) => [r.requestId, r.excluded])).toEqual([
      ['batch-sub1-1/run1/1', []],
      ['batch-sub1-1/run1/2', []],
    ]);
    runBatch(lease(s, 'h1'));
    // One request is still pending: no more are asked for.
    expect(of(pass(s, 1), 'request-lease')).toEqual([]);
    apply(s, { kind: 'denied', requestId: s.pending[0]!.requestId, reason: 'no host of class local is free' }, 2);
    // Denied with nothing excluded: no other host at all. h1 goes on alone, nothing is lost.
    expect(s.denied).toBe('no host of class local is free');
    expect(of(pass(s, 3), 'request-lease')).toEqual([]);
    expect(Object.values(s.ledger!.tests).filter((t) => t.verdict !== undefined)).toEqual([]);
    const b = runBatch(apply(s, { kind: 'host-ready', hostId: 'h1' }, 3));
    expect(b.tests).toEqual(['t4', 't5', 't6']);
  });

  it('a denial with nothing excluded means no host can take batches: the waiting tests are lost with that reason', () => {
    const s = shard(4, { maxHosts: 1 });
    const [request] = of(pass(s, 0), 'request-lease');
    apply(s, { kind: 'denied', requestId: request!.requestId, reason: 'no host of class `gpu` is left' }, 1);
    const commands = pass(s, 2);
    expect(commands).toContainEqual({ kind: 'shard-done' });
    expect(Object.values(s.ledger!.tests).map((t) => [t.verdict, t.reason])).toEqual(
      ids(4).map(() => ['lost', 'no host can take batches: no host of class `gpu` is left']),
    );
    apply(s, { kind: 'shard-ended' }, 3);
    expect(s.carry.reason).toBe('no host can take batches: no host of class `gpu` is left');
  });

  it('a grant nobody waits for any more is handed straight back', () => {
    const s = shard(3);
    pass(s, 0);
    expect(apply(s, { kind: 'granted', requestId: 'someone-else/1', hostId: 'h9', token: 'tok' }, 1)).toEqual([
      { kind: 'release', hostId: 'h9', token: 'tok', outcomes: [], handBack: true },
    ]);
    expect(s.grants).toEqual([]);
  });
});

describe('requeue placement and the lonely-host wait', () => {
  /** h1 lost t1..t3 while t2 ran: t2 isolated, t1 and t3 requeued, all three lost on h1. */
  function lostOnH1(maxHosts = 1) {
    const s = shard(3, { maxHosts });
    pass(s, 0);
    const batch = runBatch(lease(s, 'h1'));
    expect(batch.tests).toEqual(['t1', 't2', 't3']);
    const after = apply(
      s,
      { kind: 'batch-ended', hostId: 'h1', batchId: batch.batchId, results: [], end: crashed('t2') },
      10,
    );
    expect(of(after, 'finish-job')).toMatchObject([
      { jobId: batch.batchId, token: 'tok-h1', result: { kind: 'aborted' } },
    ]);
    return s;
  }

  it('a host keeps its lease and waits while only tests lost on it are left, then takes them itself', () => {
    const s = lostOnH1();
    expect(apply(s, { kind: 'host-ready', hostId: 'h1' }, 20)).toEqual([
      { kind: 'host-wait', hostId: 'h1', timeoutMs: ELSEWHERE_WAIT_MS },
    ]);
    // Meanwhile the run asks for a host that is not h1, and prefers least where the tests were lost.
    expect(of(pass(s, 21), 'request-lease')).toMatchObject([{ excluded: ['h1'], previousHosts: ['h1'] }]);
    expect(apply(s, { kind: 'host-ready', hostId: 'h1' }, 30)).toEqual([
      { kind: 'host-wait', hostId: 'h1', timeoutMs: ELSEWHERE_WAIT_MS - 10 },
    ]);
    // Nobody came in time: the suspect goes first, alone.
    expect(runBatch(apply(s, { kind: 'host-ready', hostId: 'h1' }, 20 + ELSEWHERE_WAIT_MS)).tests).toEqual(['t2']);
  });

  it("takes them at once when a denial says the lab has no host beside the run's", () => {
    const s = lostOnH1();
    const [request] = of(pass(s, 11), 'request-lease');
    apply(s, { kind: 'denied', requestId: request!.requestId, reason: 'no other host' }, 12);
    expect(s.lonely).toEqual(['h1']);
    expect(runBatch(apply(s, { kind: 'host-ready', hostId: 'h1' }, 13)).tests).toEqual(['t2']);
  });

  it('another host of the run takes the tests lost on the first, the suspect alone', () => {
    const s = lostOnH1(2);
    const [request] = of(pass(s, 11), 'request-lease');
    expect(request!.excluded).toEqual(['h1']);
    expect(runBatch(lease(s, 'h2', 12)).tests).toEqual(['t2']);
    expect(apply(s, { kind: 'host-ready', hostId: 'h1' }, 13)).toMatchObject([{ kind: 'host-wait' }]);
  });

  it('tests lost on every host the run holds get one more host, even past maxHosts', () => {
    const s = lostOnH1(1);
    // maxHosts 1 is reached by h1, yet t1..t3 were all lost there: one more host, not h1.
    expect(of(pass(s, 11), 'request-lease')).toMatchObject([{ excluded: ['h1'], previousHosts: ['h1'] }]);
  });
});

describe('the breaker', () => {
  it('a host that lost batches in a row by its own fault hands its lease back, with those aborts for the scheduler', () => {
    const s = shard(30, { maxHosts: 1, requeueLimit: 5 });
    pass(s, 0);
    let next = lease(s, 'h1');
    for (let i = 0; i < 3; i++) {
      const b = runBatch(next);
      // No progress known, no test to blame: the host's fault.
      const after = apply(
        s,
        { kind: 'batch-ended', hostId: 'h1', batchId: b.batchId, results: [], end: crashed() },
        i + 1,
      );
      expect(of(after, 'leave')).toEqual([]);
      next = apply(s, { kind: 'host-ready', hostId: 'h1' }, i + 1);
      // No progress known: every test of the batch is a suspect, and the next batches take them alone.
      if (i < 2) runBatch(next);
    }
    expect(next).toEqual([
      {
        kind: 'log',
        level: 'warn',
        message: 'host lost too many batches in a row by its own fault; handing it back',
        fields: { hostId: 'h1', faults: 3 },
      },
      { kind: 'leave', hostId: 'h1' },
    ]);
    const [release] = of(apply(s, { kind: 'host-leaving', hostId: 'h1' }, 5), 'release');
    expect(release!.outcomes.map((o) => o.result.kind)).toEqual(['aborted', 'aborted', 'aborted']);
    expect(s.carry.lostBatches).toBe(3);
  });

  it('a passed batch resets the row and is told to the scheduler too', () => {
    const s = shard(6, { maxHosts: 1 });
    pass(s, 0);
    const b = runBatch(lease(s, 'h1'));
    apply(s, { kind: 'batch-ended', hostId: 'h1', batchId: b.batchId, results: passed(b.tests), end: completed }, 1);
    const [release] = of(apply(s, { kind: 'host-leaving', hostId: 'h1' }, 2), 'release');
    expect(release!.outcomes).toEqual([{ jobId: b.batchId, result: { kind: 'passed' } }]);
  });

  it('a host that is gone takes no more batches', () => {
    const s = shard(6, { maxHosts: 1 });
    pass(s, 0);
    const b = runBatch(lease(s, 'h1'));
    expect(
      of(apply(s, { kind: 'batch-ended', hostId: 'h1', batchId: b.batchId, results: [], end: lost() }, 1), 'leave'),
    ).toEqual([{ kind: 'leave', hostId: 'h1' }]);
  });
});

describe('recovery after a lost batch', () => {
  it('a batch lost by an infrastructure abort asks the host to recover before its next batch', () => {
    const s = shard(6, { maxHosts: 1 });
    pass(s, 0);
    const b = runBatch(lease(s, 'h1'));
    const after = apply(s, { kind: 'batch-ended', hostId: 'h1', batchId: b.batchId, results: [], end: crashed() }, 1);
    expect(of(after, 'recover-host')).toEqual([
      { kind: 'recover-host', hostId: 'h1', batchId: b.batchId, cause: 'runner-crash', reason: 'runner crashed' },
    ]);
    expect(of(after, 'leave')).toEqual([]);
  });

  it('not after a passed or failed batch, and not for a host that is gone (it leaves instead)', () => {
    const s = shard(12, { maxHosts: 1 });
    pass(s, 0);
    const b1 = runBatch(lease(s, 'h1'));
    expect(
      of(
        apply(
          s,
          {
            kind: 'batch-ended',
            hostId: 'h1',
            batchId: b1.batchId,
            results: [{ test: b1.tests[0]!, status: 'failed' }, ...passed(b1.tests.slice(1))],
            end: completed,
          },
          1,
        ),
        'recover-host',
      ),
    ).toEqual([]);
    const b2 = runBatch(apply(s, { kind: 'host-ready', hostId: 'h1' }, 2));
    const gone = apply(s, { kind: 'batch-ended', hostId: 'h1', batchId: b2.batchId, results: [], end: lost() }, 3);
    expect(of(gone, 'recover-host')).toEqual([]);
    expect(of(gone, 'leave')).toHaveLength(1);
  });
});

describe('why a test is not retried', () => {
  it('a test lost more than requeueLimit times is lost, with every loss in its reason', () => {
    const s = shard(1, { maxHosts: 1, requeueLimit: 1 });
    pass(s, 0);
    const b1 = runBatch(lease(s, 'h1'));
    apply(s, { kind: 'batch-ended', hostId: 'h1', batchId: b1.batchId, results: [], end: crashed('t1') }, 1_000);
    // Alone on its only host: it waits for another host, then runs here again.
    expect(apply(s, { kind: 'host-ready', hostId: 'h1' }, 1_000)).toMatchObject([{ kind: 'host-wait' }]);
    const b2 = runBatch(apply(s, { kind: 'host-ready', hostId: 'h1' }, 1_000 + ELSEWHERE_WAIT_MS));
    apply(
      s,
      { kind: 'batch-ended', hostId: 'h1', batchId: b2.batchId, results: [], end: crashed('t1') },
      2_000 + ELSEWHERE_WAIT_MS,
    );
    const next = apply(s, { kind: 'host-ready', hostId: 'h1' }, 2_000 + ELSEWHERE_WAIT_MS);
    const t1 = s.ledger!.tests.t1!;
    expect(t1.verdict).toBe('lost');
    expect(t1.reason).toBe(
      'lost 2 times (requeueLimit 1): 00:00:01 on h1: runner crashed; 00:01:02 on h1: runner crashed',
    );
    expect(next).toEqual([{ kind: 'leave', hostId: 'h1' }]);
  });

  it('a failed test is a result, not an accident: not rerun unless retryFailed asks', () => {
    const s = shard(2, { maxHosts: 1, retryFailed: 1 });
    pass(s, 0);
    const b = runBatch(lease(s, 'h1'));
    apply(
      s,
      {
        kind: 'batch-ended',
        hostId: 'h1',
        batchId: b.batchId,
        results: [
          { test: 't1', status: 'failed', message: 'boom' },
          { test: 't2', status: 'passed' },
        ],
        end: completed,
      },
      1,
    );
    // retryFailed 1: t1 runs once more, and a pass then makes it flaky.
    const again = runBatch(apply(s, { kind: 'host-ready', hostId: 'h1' }, 2));
    expect(again.tests).toEqual(['t1']);
    apply(s, { kind: 'batch-ended', hostId: 'h1', batchId: again.batchId, results: passed(['t1']), end: completed }, 3);
    expect(s.ledger!.tests.t1).toMatchObject({ verdict: 'flaky', reason: 'passed after 1 failed run(s)' });
  });
});

describe('verdicts and late results', () => {
  it('settled verdicts go to the store at most once per period', () => {
    const s = shard(6, { maxHosts: 1 });
    pass(s, 0);
    const b = runBatch(lease(s, 'h1', 0));
    apply(s, { kind: 'batch-ended', hostId: 'h1', batchId: b.batchId, results: passed(b.tests), end: completed }, 500);
    expect(of(pass(s, 500), 'sleep')).toEqual([{ kind: 'sleep', timeoutMs: VERDICT_FLUSH_MS - 500 }]);
    const stored = of(pass(s, VERDICT_FLUSH_MS), 'store-verdicts');
    expect(stored).toMatchObject([{ offset: 0, verdicts: b.tests.map((test) => ({ test, verdict: 'passed' })) }]);
    expect(s.storedAt).toBe(VERDICT_FLUSH_MS);
    expect(of(pass(s, VERDICT_FLUSH_MS + 1), 'sleep')).toEqual([{ kind: 'sleep' }]);
  });

  it('late results of a fenced batch are history in the shard, and a report beside the verdicts once it is stored', () => {
    const s = shard(3, { maxHosts: 1 });
    pass(s, 0);
    const b = runBatch(lease(s, 'h1'));
    apply(
      s,
      {
        kind: 'batch-ended',
        hostId: 'h1',
        batchId: b.batchId,
        results: [],
        end: { ...lost('no heartbeat'), fenced: true },
      },
      1,
    );
    const late = { batchId: b.batchId, hostId: 'h1', results: passed(['t1']) };
    expect(of(apply(s, { kind: 'late-results', late }, 2), 'record-late-report')).toEqual([]);
    expect(s.ledger!.tests.t1!.attempts.at(-1)).toMatchObject({ outcome: 'late', status: 'passed' });
    apply(s, { kind: 'cancel', reason: 'stop' }, 3);
    pass(s, 3);
    apply(s, { kind: 'shard-ended' }, 4);
    expect(of(apply(s, { kind: 'late-results', late }, 5), 'record-late-report')).toEqual([
      { kind: 'record-late-report', report: { ...late, at: 5 } },
    ]);
  });
});

describe('cancel', () => {
  it('cancels the batches out, settles what waits as cancelled, hands later grants back and ends the run', () => {
    const s = shard(6, { maxHosts: 1 });
    s.carry.total = 20; // two more shards that will never start
    pass(s, 0);
    const b = runBatch(lease(s, 'h1'));
    expect(apply(s, { kind: 'cancel', reason: 'cancelled by ann' }, 1)).toEqual([{ kind: 'cancel-batches' }]);
    // The second cancel keeps the first reason.
    apply(s, { kind: 'cancel', reason: 'again' }, 1);
    expect(s.stop).toBe('cancelled by ann');
    expect(pass(s, 2)).not.toContainEqual({ kind: 'shard-done' });
    expect(s.ledger!.tests.t4).toMatchObject({ verdict: 'cancelled', reason: 'cancelled by ann' });
    apply(
      s,
      {
        kind: 'batch-ended',
        hostId: 'h1',
        batchId: b.batchId,
        results: passed(['t1']),
        end: { kind: 'cancelled', reason: 'cancelled by ann', progressKnown: true },
      },
      3,
    );
    expect(apply(s, { kind: 'host-ready', hostId: 'h1' }, 3)).toEqual([{ kind: 'leave', hostId: 'h1' }]);
    apply(s, { kind: 'host-leaving', hostId: 'h1' }, 4);
    apply(s, { kind: 'host-released', hostId: 'h1' }, 4);
    expect(pass(s, 5)).toContainEqual({ kind: 'shard-done' });
    expect(apply(s, { kind: 'granted', requestId: 'batch-sub1-1/run1/9', hostId: 'h2', token: 'x' }, 6)).toMatchObject([
      { kind: 'release', handBack: true },
    ]);
    apply(s, { kind: 'shard-ended' }, 6);
    expect(apply(s, { kind: 'shard-stored' }, 6)).toEqual([]);
    cancelUnstarted(s);
    endRun(s);
    expect(s.carry).toMatchObject({
      cancelled: 'cancelled by ann',
      offset: 20,
      counts: { passed: 1, cancelled: 5 + 14 },
    });
    expect(s.phase).toBe('done');
  });

  it('a shard that ends with tests left continues as new unless cancelled', () => {
    const s = shard(3, { maxHosts: 1 });
    s.carry.total = 6;
    pass(s, 0);
    const b = runBatch(lease(s, 'h1'));
    apply(s, { kind: 'batch-ended', hostId: 'h1', batchId: b.batchId, results: passed(b.tests), end: completed }, 1);
    expect(apply(s, { kind: 'host-ready', hostId: 'h1' }, 1)).toEqual([{ kind: 'leave', hostId: 'h1' }]);
    apply(s, { kind: 'host-leaving', hostId: 'h1' }, 2);
    apply(s, { kind: 'host-released', hostId: 'h1' }, 2);
    expect(pass(s, 3)).toContainEqual({ kind: 'shard-done' });
    expect(of(apply(s, { kind: 'shard-ended' }, 4), 'store-verdicts')).toHaveLength(1);
    expect(apply(s, { kind: 'shard-stored' }, 4)).toEqual([{ kind: 'continue-as-new' }]);
    expect(s.carry).toMatchObject({ offset: 3, batches: 1, hosts: ['h1'], verdictsStored: 3 });
  });
});
