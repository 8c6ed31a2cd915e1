/**
 * The batch run's decisions (src/domain/batch-run.ts) without a server: where a host
 * stands, the lonely-host wait, the breaker, how many leases to ask for, what a denial
 * means, a batch as a job result, and the run's result.
 */
import { describe, expect, it } from 'vitest';
import { endBatch, newLedger, takeBatch, type BatchPolicy, type Ledger } from '../../src/domain/batch-ledger.js';
import {
  batchResult,
  denialMeaning,
  ELSEWHERE_WAIT_MS,
  emptyCounts,
  finalResult,
  hostStep,
  leasesWanted,
  newCarry,
  placementOf,
  resultOf,
  type BatchEntry,
  type HostSlot,
} from '../../src/domain/batch-run.js';
import { AbortCause } from '../../src/domain/outcome.js';

const policy: BatchPolicy = { batchSize: 3, requeueLimit: 2, maxRequeueRatio: 10, retryFailed: 0 };
const ids = (n: number) => Array.from({ length: n }, (_, i) => `t${i + 1}`);
const slot = (hostId: string, extra: Partial<HostSlot> = {}): HostSlot => ({
  hostId,
  token: `tok-${hostId}`,
  overflow: false,
  entries: [],
  ...extra,
});
const lostByHost = (n: number): BatchEntry[] =>
  Array.from({ length: n }, (_, i) => ({
    jobId: `b${i}`,
    result: { kind: 'aborted', cause: AbortCause.HostLost, reason: 'gone' },
    fault: 'host',
  }));
const run = (activeHosts: string[], extra: Partial<Parameters<typeof hostStep>[2]> = {}) => ({
  maxHosts: 3,
  activeHosts,
  lonely: undefined,
  breakerAborts: 3,
  ...extra,
});

/** A ledger whose first batch (t1..t3) was lost on h1 with t2 running: t2 isolated, t1 and t3 requeued. */
function lostOnH1(n = 3): Ledger {
  const l = newLedger(ids(n), policy);
  const b = takeBatch(l, 'h1', 'b1', { otherHosts: [], noOtherHost: true }, 0)!;
  endBatch(l, b.batchId, { kind: 'host-lost', reason: 'host h1 stopped heartbeating', progressKnown: false }, 1);
  return l;
}

describe('where a leased host stands (requeue placement)', () => {
  it("knows the run's other hosts, and that the lab has more unless a denial said otherwise", () => {
    expect(placementOf(slot('h1'), ['h1', 'h2'], undefined, 0)).toEqual({ otherHosts: ['h2'], noOtherHost: false });
    expect(placementOf(slot('h1'), ['h1', 'h2'], new Set(['h1', 'h2']), 0)).toEqual({
      otherHosts: ['h2'],
      noOtherHost: true,
    });
    // A lonely set from before h3 came: no longer all there is.
    expect(placementOf(slot('h1'), ['h1', 'h3'], new Set(['h1', 'h2']), 0).noOtherHost).toBe(false);
  });

  it('a host that waited long enough for another takes back the tests lost on it (the lonely-host wait)', () => {
    const idle = slot('h1', { idleSince: 1_000 });
    expect(placementOf(idle, ['h1'], undefined, 1_000 + ELSEWHERE_WAIT_MS - 1).noOtherHost).toBe(false);
    expect(placementOf(idle, ['h1'], undefined, 1_000 + ELSEWHERE_WAIT_MS).noOtherHost).toBe(true);
  });
});

describe('what a leased host does next', () => {
  it('takes a batch while there is work for it', () => {
    const l = newLedger(ids(6), policy);
    expect(hostStep(l, slot('h1'), run(['h1']), 0)).toMatchObject({
      kind: 'take',
      placement: { otherHosts: [], noOtherHost: false },
    });
  });

  it('waits for another host while only tests lost on it are left, then takes them itself', () => {
    const l = lostOnH1();
    const s = slot('h1');
    const step = hostStep(l, s, run(['h1']), 5_000);
    expect(step).toEqual({ kind: 'wait', untilMs: 5_000 + ELSEWHERE_WAIT_MS });
    s.idleSince = 5_000;
    expect(hostStep(l, s, run(['h1']), 5_000 + ELSEWHERE_WAIT_MS).kind).toBe('take');
    // Another host of the run takes them at once.
    expect(hostStep(l, slot('h2'), run(['h1', 'h2']), 5_000).kind).toBe('take');
  });

  it('takes them at once when the lab has no other host (a denial said so)', () => {
    expect(hostStep(lostOnH1(), slot('h1'), run(['h1'], { lonely: new Set(['h1']) }), 0).kind).toBe('take');
  });

  it('trips the breaker after its own faults in a row, and hands the lease back', () => {
    const l = newLedger(ids(30), policy);
    expect(hostStep(l, slot('h1', { entries: lostByHost(2) }), run(['h1']), 0).kind).toBe('take');
    expect(hostStep(l, slot('h1', { entries: lostByHost(3) }), run(['h1']), 0)).toEqual({ kind: 'leave', breaker: 3 });
  });

  it('takes only isolated suspects while its lost batches are not judged yet', () => {
    const l = newLedger(ids(30), policy);
    const pending: BatchEntry[] = lostByHost(3).map((e) => ({ ...e, fault: 'pending' }));
    const step = hostStep(l, slot('h1', { entries: pending }), run(['h1']), 0);
    // No suspect waits in isolation: it waits (for the judgement or a suspect) instead of taking the run's tests.
    expect(step).toMatchObject({ kind: 'wait' });
    expect(hostStep(l, slot('h1', { entries: lostByHost(2) }), run(['h1']), 0).kind).toBe('take');
  });

  it('leaves when the run has more hosts than maxHosts and it is not the one that came for stranded tests', () => {
    const l = newLedger(ids(30), policy);
    expect(hostStep(l, slot('h1'), run(['h1', 'h2', 'h3', 'h4']), 0)).toEqual({ kind: 'leave' });
    expect(hostStep(l, slot('h4', { overflow: true }), run(['h1', 'h2', 'h3', 'h4']), 0).kind).toBe('take');
  });

  it('leaves when nothing waits', () => {
    const l = newLedger([], policy);
    expect(hostStep(l, slot('h1'), run(['h1']), 0)).toEqual({ kind: 'leave' });
  });
});

describe('leases and denials (retry with exclusion)', () => {
  it('asks for enough hosts for the waiting batches, up to maxHosts, counting those asked for', () => {
    const l = newLedger(ids(30), policy);
    expect(leasesWanted(l, { maxHosts: 3, batchSize: 3 }, 0, 0).count).toBe(3);
    expect(leasesWanted(l, { maxHosts: 3, batchSize: 3 }, 1, 1).count).toBe(1);
    expect(leasesWanted(newLedger(ids(2), policy), { maxHosts: 3, batchSize: 3 }, 0, 0).count).toBe(1);
  });

  it('prefers least the hosts where waiting tests were lost', () => {
    expect(leasesWanted(lostOnH1(), { maxHosts: 3, batchSize: 3 }, 0, 0).previousHosts).toEqual(['h1']);
  });

  it('reads a denial by what the request excluded', () => {
    expect(denialMeaning([], new Set(['h1']))).toEqual({ kind: 'no-host' });
    expect(denialMeaning(['h1', 'h2'], new Set(['h1']))).toEqual({ kind: 'lonely', hosts: new Set(['h1']) });
    expect(denialMeaning(['h9'], new Set(['h1']))).toEqual({ kind: 'none' });
  });
});

describe('results', () => {
  it('a batch as a job result, by how it ended', () => {
    const end = (kind: Parameters<typeof batchResult>[0]['kind']) => ({ kind, reason: 'why', progressKnown: true });
    expect(batchResult(end('host-lost'), [], 3)).toEqual({
      kind: 'aborted',
      cause: AbortCause.HostLost,
      reason: 'why',
    });
    expect(batchResult(end('not-started'), [], 3)).toMatchObject({ cause: AbortCause.HostLost });
    expect(batchResult(end('host-shutdown'), [], 3)).toMatchObject({ cause: AbortCause.HostShutdown });
    expect(batchResult(end('timeout'), [], 3)).toMatchObject({ cause: AbortCause.RunTimeout });
    expect(batchResult(end('cancelled'), [], 3)).toEqual({ kind: 'cancelled', reason: 'why' });
    expect(batchResult(end('completed'), [{ test: 't1', status: 'passed' }], 2)).toMatchObject({
      kind: 'aborted',
      cause: AbortCause.RunnerCrash,
      reason: 'runner ended with 1 of 2 tests unreported (why)',
    });
    expect(
      batchResult(
        end('completed'),
        [
          { test: 't1', status: 'passed' },
          { test: 't2', status: 'error' },
        ],
        2,
      ),
    ).toEqual({ kind: 'failed', reason: '1 of 2 tests failed' });
    expect(batchResult(end('completed'), [{ test: 't1', status: 'passed' }], 1)).toEqual({ kind: 'passed' });
  });

  it("the run's result: cancelled over aborted over failed over passed; without tests, by why", () => {
    expect(resultOf({ ...emptyCounts(), cancelled: 1, lost: 1 })).toBe('cancelled');
    expect(resultOf({ ...emptyCounts(), lost: 1, failed: 1 })).toBe('aborted');
    expect(resultOf({ ...emptyCounts(), failed: 1 })).toBe('failed');
    expect(resultOf(emptyCounts())).toBe('passed');
    const listing = { ...newCarry({ testCount: 0 }) };
    expect(finalResult(listing, emptyCounts(), 'cancelled by a person')).toBe('cancelled');
    expect(finalResult({ ...listing, reason: 'could not list the tests' }, emptyCounts(), undefined)).toBe('aborted');
    expect(finalResult(newCarry({ testCount: 2 }), { ...emptyCounts(), passed: 2 }, 'late cancel')).toBe('passed');
  });
});
