/**
 * @module The batch run's rules beside its ledger (domain/batch-ledger.ts), pure and
 * with time passed in, which batch-run-state.ts combines into the run's events: where a leased host
 * stands (placement, the lonely-host wait), what a host does next (take a batch, wait for
 * another host, leave: the breaker), how many leases to ask for, what a denial means, a
 * lost or finished batch as a job result, the totals carried across continue-as-new, and
 * the run as the API shows it.
 */
import {
  countLedger,
  hasWorkFor,
  hostFaultsInARow,
  lossesInARow,
  lostHostsOfWaiting,
  waitingCount,
  type BatchEnd,
  type BreakerEntry,
  type Ledger,
  type LedgerCounts,
  type Placement,
  type TestReport,
} from './batch-ledger.js';
import type { ListedTests } from './batch-work.js';
import { AbortCause, type JobResult, type ResultKind } from './outcome.js';
import type { PlanBatchRun } from './plan.js';
import type { BatchRunView, TestNote } from './views.js';

/** Notes (isolated, lost, failed, flaky tests) a run keeps for its view. */
export const NOTES_KEPT = 200;
/** How long a host with only tests that were lost on it waits for another host before it takes them itself. */
export const ELSEWHERE_WAIT_MS = 60_000;

/** What a batch run carries across continue-as-new: the totals its view shows, and where it is (no ledger: only run-wide totals). */
export interface BatchRunCarry extends Pick<
  BatchRunView,
  'counts' | 'hosts' | 'batches' | 'lostBatches' | 'isolated' | 'lost' | 'failed' | 'flaky' | 'reason'
> {
  total: number;
  offset: number;
  nextBatch: number;
  cancelled?: string;
  /** requeues charged in the whole run so far: maxRequeueRatio is of the run, not of a shard */
  requeues?: number;
  /** set once the run stopped requeuing */
  budgetSpent?: string;
  /** verdicts in the result store so far: the key of the next part written */
  verdictsStored?: number;
  /** a testsCommand's list being moved from its host to the result store, chunk by chunk */
  listing?: { hostId: string; token: string; listed: ListedTests; next: number };
}

export const emptyCounts = (): LedgerCounts => ({
  total: 0,
  passed: 0,
  failed: 0,
  flaky: 0,
  skipped: 0,
  lost: 0,
  cancelled: 0,
  running: 0,
  queued: 0,
  requeued: 0,
});

export function newCarry(run: Pick<PlanBatchRun, 'testCount'>): BatchRunCarry {
  return {
    total: run.testCount,
    offset: 0,
    nextBatch: 1,
    counts: emptyCounts(),
    hosts: [],
    batches: 0,
    lostBatches: 0,
    isolated: [],
    lost: [],
    failed: [],
    flaky: [],
  };
}

/** One batch as the host's breaker sees it: its result, and whose fault it was if lost. */
export interface BatchEntry extends BreakerEntry {
  jobId: string;
  result: JobResult;
}

/** A host the run holds a lease on. */
export interface HostSlot {
  hostId: string;
  token: string;
  /** leased beyond maxHosts, to take tests no host of the run could (it stays; an idle other leaves) */
  overflow: boolean;
  /** since when it has had only tests that were lost on it */
  idleSince?: number;
  entries: BatchEntry[];
}

/**
 * Where a host stands: the run's other hosts, and whether the lab has none beyond them —
 * the run's hosts are all the lab has (`lonely`: a request excluding them was denied), or
 * the host has waited ELSEWHERE_WAIT_MS for another to take the tests lost on it.
 */
export function placementOf(
  slot: HostSlot,
  activeHosts: readonly string[],
  lonely: ReadonlySet<string> | undefined,
  now: number,
): Placement {
  const otherHosts = activeHosts.filter((h) => h !== slot.hostId);
  const waitedEnough = slot.idleSince !== undefined && now - slot.idleSince >= ELSEWHERE_WAIT_MS;
  return {
    otherHosts,
    noOtherHost: waitedEnough || (lonely !== undefined && [slot.hostId, ...otherHosts].every((h) => lonely.has(h))),
  };
}

export type HostStep =
  /** take a batch placed so */
  | { kind: 'take'; placement: Placement }
  /** keep the lease and wait (until `untilMs` at most) for another host, new work, or none to turn up */
  | { kind: 'wait'; untilMs: number }
  /** hand the lease back; `breaker` when it lost too many batches in a row by its own fault */
  | { kind: 'leave'; breaker?: number };

/** What a leased host does next. `breakerAborts`: its own faults in a row that trip the breaker (the lab's brokenAfterAborts). */
export function hostStep(
  l: Ledger,
  slot: HostSlot,
  run: {
    maxHosts: number;
    activeHosts: readonly string[];
    lonely: ReadonlySet<string> | undefined;
    breakerAborts: number;
  },
  now: number,
): HostStep {
  // Past maxHosts (a host came for tests no other could take): an idle one that is not it leaves.
  if (run.activeHosts.length > run.maxHosts && !slot.overflow) return { kind: 'leave' };
  // Its own faults (known now, or judged since its last batch) trip the breaker.
  const faults = hostFaultsInARow(slot.entries);
  if (faults >= run.breakerAborts) return { kind: 'leave', breaker: faults };
  const placement = placementOf(slot, run.activeHosts, run.lonely, now);
  // Lost that many in a row, not all judged yet: only suspects (their runs judge them) until it knows.
  if (lossesInARow(slot.entries) >= run.breakerAborts) placement.isolationOnly = true;
  if (hasWorkFor(l, slot.hostId, placement)) return { kind: 'take', placement };
  if (waitingCount(l) === 0 && !placement.isolationOnly) return { kind: 'leave' };
  if (waitingCount(l) === 0 && Object.keys(l.out).length === 0) return { kind: 'leave' };
  // Only tests that were lost here wait: keep the lease (handing it back would only get it
  // back) until another host takes them, new work comes, or no other host turns up.
  const idleSince = slot.idleSince ?? now;
  return { kind: 'wait', untilMs: idleSince + ELSEWHERE_WAIT_MS };
}

/**
 * How many more leases to ask for, and the hosts the requests prefer least (where waiting
 * tests were lost): enough hosts for the waiting batches, up to maxHosts. (Tests lost on
 * every host the run has need one more even past maxHosts: `strandedOn`.)
 */
export function leasesWanted(
  l: Ledger,
  run: Pick<PlanBatchRun, 'maxHosts' | 'batchSize'>,
  activeHosts: number,
  pendingRequests: number,
): { count: number; previousHosts: string[] } {
  const wanted = Math.min(run.maxHosts, activeHosts + Math.ceil(waitingCount(l) / run.batchSize));
  return { count: Math.max(0, wanted - activeHosts - pendingRequests), previousHosts: lostHostsOfWaiting(l) };
}

/**
 * What a denied request means. Every request excludes the hosts the run holds: denied with
 * none excluded, no host can take batches at all; denied beside the run's hosts (those
 * still held), they are all there is (lonely); a request that excluded only hosts since
 * gone means nothing (it is simply asked again).
 */
export function denialMeaning(
  excluded: readonly string[],
  activeHosts: ReadonlySet<string> | Map<string, unknown>,
): { kind: 'no-host' } | { kind: 'lonely'; hosts: Set<string> } | { kind: 'none' } {
  if (excluded.length === 0) return { kind: 'no-host' };
  const still = excluded.filter((h) => activeHosts.has(h));
  return still.length > 0 ? { kind: 'lonely', hosts: new Set(still) } : { kind: 'none' };
}

/** A batch as a job result: for its log page and for the host's broken-host count. */
export function batchResult(end: BatchEnd, results: readonly TestReport[], size: number): JobResult {
  switch (end.kind) {
    case 'cancelled':
      return { kind: 'cancelled', reason: end.reason };
    case 'host-lost':
    case 'not-started':
      return { kind: 'aborted', cause: AbortCause.HostLost, reason: end.reason };
    case 'host-shutdown':
      return { kind: 'aborted', cause: AbortCause.HostShutdown, reason: end.reason };
    case 'timeout':
      return { kind: 'aborted', cause: AbortCause.RunTimeout, reason: end.reason };
    case 'crashed':
      return { kind: 'aborted', cause: AbortCause.RunnerCrash, reason: end.reason };
    case 'completed': {
      const failed = results.filter((r) => r.status === 'failed' || r.status === 'error');
      if (results.length < size)
        return {
          kind: 'aborted',
          cause: AbortCause.RunnerCrash,
          reason: `runner ended with ${size - results.length} of ${size} tests unreported (${end.reason})`,
        };
      return failed.length > 0
        ? { kind: 'failed', reason: `${failed.length} of ${size} tests failed` }
        : { kind: 'passed' };
    }
  }
}

/** The notes of a ledger's tests: isolated, lost, failed and flaky ones. */
export function notes(l: Ledger): { isolated: TestNote[]; lost: TestNote[]; failed: TestNote[]; flaky: string[] } {
  const tests = Object.values(l.tests);
  return {
    isolated: tests.filter((t) => t.isolated !== undefined).map((t) => ({ test: t.id, reason: t.isolated! })),
    lost: tests.filter((t) => t.verdict === 'lost').map((t) => ({ test: t.id, reason: t.reason ?? 'lost' })),
    failed: tests.filter((t) => t.verdict === 'failed').map((t) => ({ test: t.id, reason: t.reason ?? 'failed' })),
    flaky: tests.filter((t) => t.verdict === 'flaky').map((t) => t.id),
  };
}

export function sumCounts(a: LedgerCounts, b: LedgerCounts): LedgerCounts {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof LedgerCounts)[]) out[k] = a[k] + b[k];
  return out;
}

/** A batch run's result by its counts: cancelled, aborted (tests lost), failed (tests failed), or passed. */
export function resultOf(c: LedgerCounts): ResultKind {
  if (c.cancelled > 0) return 'cancelled';
  if (c.lost > 0) return 'aborted';
  if (c.failed > 0) return 'failed';
  return 'passed';
}

/**
 * The result of a run that has ended. One that never got its tests (cancelled while
 * listing, or the listing failed) has no counts to go by: cancelled or aborted by why.
 */
export function finalResult(carry: BatchRunCarry, counts: LedgerCounts, stop: string | undefined): ResultKind {
  if (carry.total > 0) return resultOf(counts);
  if (stop !== undefined) return 'cancelled';
  if (carry.reason !== undefined) return 'aborted';
  return resultOf(counts);
}

/** Folds a finished shard into the totals carried forward; `denied`: why no host could take batches, if so. */
export function absorbShard(carry: BatchRunCarry, l: Ledger, denied: string | undefined): void {
  const c = countLedger(l);
  carry.counts = sumCounts(carry.counts, { ...c, running: 0, queued: 0, requeued: 0 });
  carry.offset += c.total;
  carry.requeues = l.requeuesTotal;
  if (l.budgetSpent !== undefined) carry.budgetSpent = l.budgetSpent;
  const n = notes(l);
  carry.isolated = [...carry.isolated, ...n.isolated].slice(0, NOTES_KEPT);
  carry.lost = [...carry.lost, ...n.lost].slice(0, NOTES_KEPT);
  carry.failed = [...carry.failed, ...n.failed].slice(0, NOTES_KEPT);
  carry.flaky = [...carry.flaky, ...n.flaky].slice(0, NOTES_KEPT);
  if (l.budgetSpent !== undefined) carry.reason ??= l.budgetSpent;
  if (denied !== undefined && c.lost > 0) carry.reason ??= `no host can take batches: ${denied}`;
}

/** Everything the run's view is made of. */
export interface RunViewParts {
  id: string;
  name: string;
  workflowId: string;
  state: BatchRunView['state'];
  carry: BatchRunCarry;
  /** the shard being worked on, if any */
  ledger: Ledger | undefined;
  running: ReadonlyMap<string, { hostId: string; tests: number }>;
  denied: string | undefined;
  stop: string | undefined;
}

/** The run as the API shows it: the carried totals plus the shard in work. */
export function runView(p: RunViewParts): BatchRunView {
  const { carry, ledger } = p;
  const live = ledger ? countLedger(ledger) : emptyCounts();
  const counts = sumCounts(carry.counts, live);
  counts.total = carry.total;
  counts.queued = Math.max(0, carry.total - carry.offset - live.total) + live.queued;
  const n = ledger ? notes(ledger) : { isolated: [], lost: [], failed: [], flaky: [] };
  const v: BatchRunView = {
    id: p.id,
    name: p.name,
    state: p.state,
    counts,
    hosts: [...new Set([...carry.hosts, ...[...p.running.values()].map((r) => r.hostId)])],
    batches: carry.batches,
    lostBatches: carry.lostBatches,
    isolated: [...carry.isolated, ...n.isolated].slice(0, NOTES_KEPT),
    lost: [...carry.lost, ...n.lost].slice(0, NOTES_KEPT),
    failed: [...carry.failed, ...n.failed].slice(0, NOTES_KEPT),
    flaky: [...carry.flaky, ...n.flaky].slice(0, NOTES_KEPT),
    running: [...p.running].map(([id, r]) => ({ batchId: id, hostId: r.hostId, tests: r.tests })),
    workflowId: p.workflowId,
  };
  const reason = carry.reason ?? ledger?.budgetSpent ?? carry.budgetSpent ?? p.denied;
  if (reason !== undefined) v.reason = reason;
  if (p.state === 'done') v.result = finalResult(carry, counts, p.stop);
  return v;
}

/** Whether the ledger holds settled verdicts not stored yet (those of fenced batches wait for them). */
export function hasVerdictsToStore(l: Ledger): boolean {
  const held = new Set(Object.values(l.fenced).flat());
  return Object.values(l.tests).some((t) => t.verdict !== undefined && !t.stored && !held.has(t.id));
}
