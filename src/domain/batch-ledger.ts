/**
 * @module The ledger of a batch run: every expected test and its one final verdict, the
 * queues of tests still to run (normal, and isolation: one test per batch), the batches
 * out on hosts, and the rules that turn what happened to a batch into verdicts, requeues
 * and a fault (the host's or the test's, for the per-host breaker). Execution is
 * at-least-once (a batch may die after some tests finished); counting is exactly-once: a
 * test's first verdict stands, later results are history. Pure: the batch workflow holds
 * a ledger per shard of the run and calls these functions; unit tests too.
 */
import type { z } from 'zod';
import type { batchCounts } from './wire/batch-runs.js';

export interface BatchPolicy {
  batchSize: number;
  /** a test requeued more than this many times is reported lost */
  requeueLimit: number;
  /** stop requeuing once the run's requeues exceed this share of all its tests (but allow two lost batches' worth) */
  maxRequeueRatio: number;
  /** rerun a failed test this many times; a pass after a failure is `flaky` */
  retryFailed: number;
}

/** What a shard's ledger knows of the whole run: its budget is the run's, not the shard's. */
export interface RunTotals {
  /** tests in the whole run, every shard */
  tests: number;
  /** requeues charged in earlier shards */
  requeues: number;
  /** set once the run stopped requeuing, in an earlier shard */
  budgetSpent?: string;
}

export const VERDICTS = ['passed', 'failed', 'flaky', 'skipped', 'lost', 'cancelled'] as const;
export type Verdict = (typeof VERDICTS)[number];

export type TestStatus = 'passed' | 'failed' | 'error' | 'skipped';

export interface TestReport {
  test: string;
  status: TestStatus;
  durationMs?: number;
  message?: string;
}

/**
 * What one attempt gave: a result; or why it gave none (`lost`, `suspect`: running when its
 * batch died; `not-started`: its batch never started; `interrupted`: its host shut down);
 * or `late`: a result that came after the attempt was given up (history, never a verdict).
 */
export type AttemptStatus = TestStatus | 'lost' | 'suspect' | 'late' | 'not-started' | 'interrupted';

export interface TestAttempt {
  batchId: string;
  hostId: string;
  at: number;
  outcome: AttemptStatus;
  /** for a late result: what it said */
  status?: TestStatus;
  reason?: string;
  durationMs?: number;
}

export interface LedgerTest {
  id: string;
  verdict?: Verdict;
  /** why: the failure message, or why it was lost */
  reason?: string;
  attempts: TestAttempt[];
  requeues: number;
  failedRuns: number;
  /** hosts where a batch holding it died */
  lostOn: string[];
  /** why it was put in a batch of its own */
  isolated?: string;
  /** its verdict is in the result store */
  stored?: boolean;
}

export interface BatchOut {
  batchId: string;
  hostId: string;
  tests: string[];
  isolated: boolean;
  startedAt: number;
}

/** Whose fault a lost batch was: `host` counts towards the host's breaker, `test` does not. */
export type Fault = 'host' | 'test';

export interface Blame {
  batchId: string;
  hostId: string;
  fault: Fault;
}

export interface Ledger {
  policy: BatchPolicy;
  tests: Record<string, LedgerTest>;
  /** tests waiting for a normal batch, in order */
  queue: string[];
  /** tests waiting for a batch of their own (suspects) */
  isolation: string[];
  out: Record<string, BatchOut>;
  /** tests in the whole run */
  runTests: number;
  /** requeues charged in the whole run so far (earlier shards included) */
  requeuesTotal: number;
  /** set once the run stopped requeuing (maxRequeueRatio reached) */
  budgetSpent?: string;
  /**
   * Batches whose death waits on their suspect's next run to say whose fault it was
   * (suspect's test id → batch): a suspect that then runs fine elsewhere clears itself and
   * blames the host; one that kills its isolated batch too is the test's fault.
   */
  pendingBlame: Record<string, { batchId: string; hostId: string }>;
  /** earlier batches whose fault became known since the workflow last asked (takeBlame) */
  blamed: Blame[];
  /** batches given up without hearing from their host (a Temporal timeout): its results may still come, late */
  fenced: Record<string, string[]>;
}

export function newLedger(testIds: readonly string[], policy: BatchPolicy, run?: RunTotals): Ledger {
  const tests: Record<string, LedgerTest> = {};
  for (const id of testIds) tests[id] ??= { id, attempts: [], requeues: 0, failedRuns: 0, lostOn: [] };
  const l: Ledger = {
    policy,
    tests,
    queue: Object.keys(tests),
    isolation: [],
    out: {},
    runTests: Math.max(run?.tests ?? 0, Object.keys(tests).length),
    requeuesTotal: run?.requeues ?? 0,
    pendingBlame: {},
    blamed: [],
    fenced: {},
  };
  if (run?.budgetSpent !== undefined) l.budgetSpent = run.budgetSpent;
  return l;
}

/**
 * Where a host stands when it asks for work: the other hosts the run has now (the batches
 * shrink towards the end so all of them share the tail), and whether the lab has no host
 * beyond them (it said so, or none came in time). A test lost on this host is left for
 * another host; it is this host's again only when no other host of the run could take it
 * either and the lab has none to add.
 */
export interface Placement {
  otherHosts: readonly string[];
  noOtherHost: boolean;
  /** only suspects in isolation (a host waiting to hear whose fault its lost batches were) */
  isolationOnly?: boolean;
}

const welcomeOn = (l: Ledger, hostId: string, p: Placement) => (id: string) => {
  const lostOn = l.tests[id]!.lostOn;
  return !lostOn.includes(hostId) || (p.noOtherHost && p.otherHosts.every((h) => lostOn.includes(h)));
};

/**
 * The next batch for a host: a suspect in isolation first, else up to batchSize tests from
 * the queue. Near the end the batches shrink, so the last tests (and requeued ones) are
 * shared by all hosts instead of trailing on one. Tests lost on this host are left for
 * other hosts unless the placement says there are none.
 */
export function takeBatch(l: Ledger, hostId: string, batchId: string, p: Placement, now: number): BatchOut | undefined {
  const welcome = welcomeOn(l, hostId, p);
  const isolated = l.isolation.find(welcome);
  if (isolated === undefined && p.isolationOnly) return undefined;
  let tests: string[];
  if (isolated !== undefined) {
    l.isolation = l.isolation.filter((id) => id !== isolated);
    tests = [isolated];
  } else {
    tests = [];
    const rest: string[] = [];
    // Shrink towards the end, but not below a quarter batch: every batch costs a start.
    const floor = Math.ceil(l.policy.batchSize / 4);
    const size = Math.min(l.policy.batchSize, Math.max(floor, Math.ceil(l.queue.length / (p.otherHosts.length + 1))));
    for (const id of l.queue) {
      if (tests.length < size && welcome(id)) tests.push(id);
      else rest.push(id);
    }
    if (tests.length === 0) return undefined;
    l.queue = rest;
  }
  const batch: BatchOut = { batchId, hostId, tests, isolated: isolated !== undefined, startedAt: now };
  l.out[batchId] = batch;
  return batch;
}

/** True when a test is waiting that this host may take. */
export function hasWorkFor(l: Ledger, hostId: string, p: Placement): boolean {
  const welcome = welcomeOn(l, hostId, p);
  return l.isolation.some(welcome) || (!p.isolationOnly && l.queue.some(welcome));
}

/** Tests waiting (normal queue and isolation). */
export function waitingCount(l: Ledger): number {
  return l.queue.length + l.isolation.length;
}

/** Waiting tests that were lost on every one of these hosts: they need a host the run does not have. */
export function strandedOn(l: Ledger, hostIds: readonly string[]): number {
  if (hostIds.length === 0) return 0;
  return [...l.queue, ...l.isolation].filter((id) => hostIds.every((h) => l.tests[id]!.lostOn.includes(h))).length;
}

/** Hosts where waiting tests were lost: a new lease should prefer others. */
export function lostHostsOfWaiting(l: Ledger): string[] {
  return [...new Set([...l.queue, ...l.isolation].flatMap((id) => l.tests[id]!.lostOn))].sort();
}

export type RecordResult = 'accepted' | 'late' | 'unknown';

const ranIn = (t: LedgerTest, batchId: string) => t.attempts.some((a) => a.batchId === batchId && isResult(a.outcome));
const isResult = (o: AttemptStatus): o is TestStatus =>
  o === 'passed' || o === 'failed' || o === 'error' || o === 'skipped';

/** One test's result from a batch. Only the first verdict counts; a later one is history. */
export function recordTest(l: Ledger, batchId: string, hostId: string, r: TestReport, now: number): RecordResult {
  const test = l.tests[r.test];
  if (!test) return 'unknown';
  const batch = l.out[batchId];
  const attempt: TestAttempt = {
    batchId,
    hostId,
    at: now,
    outcome: r.status,
    ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}),
    ...(r.message ? { reason: r.message } : {}),
  };
  if (test.verdict !== undefined || !batch?.tests.includes(r.test) || ranIn(test, batchId)) {
    test.attempts.push({ ...attempt, outcome: 'late', status: r.status });
    return 'late';
  }
  test.attempts.push(attempt);
  // It ran to the end: the batch it was a suspect of died of something else.
  resolveBlame(l, r.test, 'host');
  if (r.status === 'passed') {
    test.verdict = test.failedRuns > 0 ? 'flaky' : 'passed';
    if (test.verdict === 'flaky') test.reason = `passed after ${test.failedRuns} failed run(s)`;
  } else if (r.status === 'skipped') {
    test.verdict = 'skipped';
    if (r.message) test.reason = r.message;
  } else {
    test.failedRuns++;
    test.reason = r.message ?? `test ${r.status === 'error' ? 'errored' : 'failed'}`;
    // A failure is a result, not an accident: rerun only if asked to (retryFailed).
    if (test.failedRuns > l.policy.retryFailed) test.verdict = 'failed';
  }
  return 'accepted';
}

/**
 * Results a host reports for a batch the run already gave up (its attempt was fenced): kept
 * in the tests' attempt history as `late`, never a verdict, never a requeue. A result the
 * run already has from that batch (it came with a heartbeat) is not recorded twice.
 * Returns how many were recorded.
 */
export function recordLate(
  l: Ledger,
  batchId: string,
  hostId: string,
  results: readonly TestReport[],
  now: number,
): number {
  if (l.out[batchId]) return 0; // still out: its own end will bring them
  let recorded = 0;
  for (const r of results) {
    const test = l.tests[r.test];
    if (!test || !test.attempts.some((a) => a.batchId === batchId)) continue;
    if (ranIn(test, batchId) || test.attempts.some((a) => a.batchId === batchId && a.outcome === 'late')) continue;
    test.attempts.push({
      batchId,
      hostId,
      at: now,
      outcome: 'late',
      status: r.status,
      ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}),
      ...(r.message ? { reason: r.message } : {}),
    });
    recorded++;
  }
  delete l.fenced[batchId];
  return recorded;
}

/**
 * How a batch ended. `not-started`: it never started (the host did not pick it up): its
 * tests go back to the queue, no requeue charged. `host-shutdown`: the host stopped it to
 * shut down: likewise. `fenced`: the run gave it up without hearing from the host (a
 * Temporal timeout), so the host may still report its results late.
 */
export type BatchEndKind =
  'completed' | 'crashed' | 'timeout' | 'host-lost' | 'not-started' | 'host-shutdown' | 'cancelled';

export interface BatchEnd {
  kind: BatchEndKind;
  reason: string;
  /** the test running when the batch ended, from the last progress the host reported */
  current?: string;
  /** false when nothing is known of the batch's progress (no heartbeat arrived) */
  progressKnown: boolean;
  fenced?: boolean;
}

/** What a batch's end did to its tests, and whose fault the batch was. */
export interface BatchEndEffects {
  /** tests back in the normal queue */
  requeued: string[];
  /** tests put in isolation */
  isolated: string[];
  /** tests that got their final verdict from this end (lost or cancelled) */
  settled: string[];
  /**
   * Whose fault the batch was, if it was lost: `host` (the host vanished, never started it,
   * or its runner died with no test to blame), `test` (an isolated suspect killed its
   * batch), `pending` (a suspect in a shared batch: known once the suspect runs alone),
   * `none` (it completed, was cancelled, or its host shut down).
   */
  fault: Fault | 'pending' | 'none';
}

/**
 * A batch is back (or gone). Its tests without a result are requeued: the suspect (the
 * test running when it died) into isolation, its untouched batch-mates to the normal
 * queue; with no progress known, all of them into isolation. Failed tests asked to be
 * retried go back too. A batch that never started, or that its host stopped to shut down,
 * puts its tests back without charging them. Limits: requeueLimit per test,
 * maxRequeueRatio for the run.
 */
export function endBatch(l: Ledger, batchId: string, end: BatchEnd, now: number): BatchEndEffects {
  const batch = l.out[batchId];
  const effects: BatchEndEffects = { requeued: [], isolated: [], settled: [], fault: 'none' };
  if (!batch) return effects;
  delete l.out[batchId];
  if (end.fenced) l.fenced[batchId] = [...batch.tests];
  const unfinished = batch.tests.filter((id) => l.tests[id]!.verdict === undefined && !ranIn(l.tests[id]!, batchId));
  const lossy =
    end.kind === 'crashed' ||
    end.kind === 'timeout' ||
    end.kind === 'host-lost' ||
    (end.kind === 'completed' && unfinished.length > 0);
  const suspect =
    lossy && end.progressKnown && end.current !== undefined && unfinished.includes(end.current)
      ? end.current
      : undefined;
  effects.fault = faultOf(end, batch, lossy, suspect);

  for (const id of batch.tests) {
    const test = l.tests[id]!;
    if (test.verdict !== undefined) continue;
    if (ranIn(test, batchId)) {
      // It failed and is to be retried (retryFailed): back to the queue, not a requeue.
      l.queue.push(id);
      effects.requeued.push(id);
      continue;
    }
    if (end.kind === 'cancelled') {
      settle(l, test, 'cancelled', end.reason, effects);
      continue;
    }
    if (end.kind === 'not-started' || end.kind === 'host-shutdown') {
      // Not the test's doing: no requeue charged, and the host is no worse a place for it.
      test.attempts.push({
        batchId,
        hostId: batch.hostId,
        at: now,
        outcome: end.kind === 'not-started' ? 'not-started' : 'interrupted',
        reason: end.reason,
      });
      (batch.isolated ? l.isolation : l.queue).push(id);
      (batch.isolated ? effects.isolated : effects.requeued).push(id);
      continue;
    }
    const isSuspect = !end.progressKnown || id === suspect;
    const why = end.kind === 'completed' ? `runner ended without a result for it (${end.reason})` : end.reason;
    test.attempts.push({
      batchId,
      hostId: batch.hostId,
      at: now,
      outcome: isSuspect ? 'suspect' : 'lost',
      reason: why,
    });
    if (!test.lostOn.includes(batch.hostId)) test.lostOn.push(batch.hostId);
    test.requeues++;
    l.requeuesTotal++;
    if (test.requeues > l.policy.requeueLimit) {
      settle(
        l,
        test,
        'lost',
        `lost ${test.requeues} times (requeueLimit ${l.policy.requeueLimit}): ${describeLosses(test)}`,
        effects,
      );
      continue;
    }
    if (l.budgetSpent === undefined && l.requeuesTotal > requeueBudget(l)) {
      l.budgetSpent = `stopped requeuing: ${l.requeuesTotal} requeues exceed the run's budget of ${requeueBudget(l)} (maxRequeueRatio ${l.policy.maxRequeueRatio} of ${l.runTests} tests, at least two batches' worth)`;
    }
    if (l.budgetSpent !== undefined) {
      settle(l, test, 'lost', `${l.budgetSpent}; ${describeLosses(test)}`, effects);
      continue;
    }
    if (isSuspect) {
      test.isolated = end.progressKnown
        ? `running when its batch ${batchId} ended: ${end.reason}`
        : `in batch ${batchId} that ended with no progress known: ${end.reason}`;
      l.isolation.push(id);
      effects.isolated.push(id);
    } else {
      l.queue.push(id);
      effects.requeued.push(id);
    }
  }

  if (suspect !== undefined) {
    if (batch.isolated) {
      // Alone in its batch and it died again: the test is at fault, here and where it died before.
      resolveBlame(l, suspect, 'test');
    } else if (l.tests[suspect]!.verdict === undefined) {
      l.pendingBlame[suspect] = { batchId, hostId: batch.hostId };
    } else {
      // Settled without another run (limits): the benefit of the doubt goes to the host.
      effects.fault = 'test';
    }
  }
  return effects;
}

function faultOf(
  end: BatchEnd,
  batch: BatchOut,
  lossy: boolean,
  suspect: string | undefined,
): BatchEndEffects['fault'] {
  switch (end.kind) {
    case 'cancelled':
    case 'host-shutdown':
      return 'none';
    case 'not-started':
    case 'host-lost':
      return 'host';
    default:
      if (!lossy) return 'none';
      // The runner died with no test running, or we know nothing: the host (its runner, its setup).
      if (suspect === undefined) return 'host';
      return batch.isolated ? 'test' : 'pending';
  }
}

/** A pending batch's fault became known: queue it for the workflow. */
function resolveBlame(l: Ledger, testId: string, fault: Fault): void {
  const pending = l.pendingBlame[testId];
  if (!pending) return;
  delete l.pendingBlame[testId];
  l.blamed.push({ ...pending, fault });
}

/** Earlier batches whose fault became known since the last call. */
export function takeBlame(l: Ledger): Blame[] {
  const blamed = l.blamed;
  l.blamed = [];
  return blamed;
}

/** A batch as a host's breaker sees it: how it ended, and whose fault it was if lost (pending: not known yet). */
export interface BreakerEntry {
  result: { kind: string };
  fault: BatchEndEffects['fault'];
}

/**
 * Batches the host lost in a row by its own fault, newest first: a batch that ran to the end
 * (passed or failed) ends the row; batches lost to a test, not yet judged, cancelled or
 * stopped for a shutdown are passed over.
 */
export function hostFaultsInARow(entries: readonly BreakerEntry[]): number {
  let n = 0;
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (e.fault === 'host') n++;
    else if (e.fault === 'none' && (e.result.kind === 'passed' || e.result.kind === 'failed')) break;
  }
  return n;
}

/**
 * The same, counting batches not judged yet as if they were the host's: a host that lost
 * this many in a row takes only isolated suspects (whose runs judge them) until it knows,
 * so a bad host cannot lose the run's tests faster than its breaker can trip.
 */
export function lossesInARow(entries: readonly BreakerEntry[]): number {
  return hostFaultsInARow(entries.map((e) => (e.fault === 'pending' ? { ...e, fault: 'host' } : e)));
}

/** What the scheduler's breaker should hear of: the host's own faults, and passed batches (they reset it). */
export function countsForBreaker(e: BreakerEntry): boolean {
  return e.fault === 'host' || (e.fault === 'none' && e.result.kind === 'passed');
}

/** How many requeues the run allows: its ratio of all its tests, but never less than two lost batches. */
function requeueBudget(l: Ledger): number {
  return Math.max(Math.ceil(l.policy.maxRequeueRatio * l.runTests), 2 * l.policy.batchSize);
}

function settle(l: Ledger, test: LedgerTest, verdict: Verdict, reason: string, effects: BatchEndEffects): void {
  test.verdict = verdict;
  test.reason = reason;
  effects.settled.push(test.id);
  // Never run again: nothing will tell whose fault its batch was; the benefit of the doubt goes to the host.
  resolveBlame(l, test.id, 'test');
}

function describeLosses(test: LedgerTest): string {
  return test.attempts
    .filter((a) => a.outcome === 'lost' || a.outcome === 'suspect')
    .map((a) => `${new Date(a.at).toISOString().slice(11, 19)} on ${a.hostId}: ${a.reason ?? a.outcome}`)
    .join('; ');
}

/** Every test still without a verdict and not out on a host gets this one (a cancel, no host left). */
export function settleWaiting(l: Ledger, verdict: 'lost' | 'cancelled', reason: string): string[] {
  const waiting = [...l.queue, ...l.isolation];
  l.queue = [];
  l.isolation = [];
  for (const id of waiting) {
    const t = l.tests[id]!;
    if (t.verdict === undefined) {
      t.verdict = verdict;
      t.reason = reason;
      resolveBlame(l, id, 'test');
    }
  }
  return waiting;
}

export function isDone(l: Ledger): boolean {
  return Object.keys(l.out).length === 0 && Object.values(l.tests).every((t) => t.verdict !== undefined);
}

/** A test's verdict as the result store keeps it: with every attempt, late results included. */
export interface VerdictRecord {
  test: string;
  verdict: Verdict;
  reason?: string;
  /** how many times it was handed to a batch that ran (results and losses) */
  attempts: number;
  /** results that came after the verdict or from a given-up attempt: history, not counted */
  late: number;
  /** every attempt: batch, host, time, what it gave */
  history: TestAttempt[];
}

/**
 * Verdicts ready to be stored, and marks them stored: settled tests, except those of a
 * fenced batch whose host may still report late (they wait for it, or for `all`: the
 * shard's end). Each test is stored once.
 */
export function takeVerdicts(l: Ledger, all = false): VerdictRecord[] {
  const held = new Set(all ? [] : Object.values(l.fenced).flat());
  const out: VerdictRecord[] = [];
  for (const t of Object.values(l.tests)) {
    if (t.stored || (t.verdict === undefined && !all) || held.has(t.id)) continue;
    t.stored = true;
    out.push(verdictRecord(t));
  }
  return out;
}

export function verdictRecord(t: LedgerTest): VerdictRecord {
  return {
    test: t.id,
    verdict: t.verdict ?? 'lost',
    ...(t.reason !== undefined ? { reason: t.reason } : {}),
    attempts: t.attempts.filter((a) => a.outcome !== 'late' && a.outcome !== 'not-started').length,
    late: t.attempts.filter((a) => a.outcome === 'late').length,
    history: t.attempts,
  };
}

/** A fenced batch's results that came after its shard was stored: kept beside the verdicts. */
export interface LateReport {
  batchId: string;
  hostId: string;
  at: number;
  results: TestReport[];
}

/**
 * Stored verdicts with the late reports that came after their shard ended, each as one
 * more `late` attempt: only for a test that batch really ran on that host (its history
 * says so), once per batch, and not for a result the batch gave in time. History only: verdicts and attempt counts stay as they are.
 */
type HistoryEntry = Omit<TestAttempt, 'outcome' | 'status'> & { outcome: string; status?: string };

export function withLateReports<V extends { test: string; late?: number; history?: HistoryEntry[] }>(
  verdicts: V[],
  reports: readonly LateReport[],
): V[] {
  if (reports.length === 0) return verdicts;
  const byTest = new Map<string, { report: LateReport; result: TestReport }[]>();
  for (const report of reports)
    for (const result of report.results)
      byTest.set(result.test, [...(byTest.get(result.test) ?? []), { report, result }]);
  return verdicts.map((v) => {
    const late = byTest.get(v.test);
    if (!late) return v;
    const history: HistoryEntry[] = [...(v.history ?? [])];
    let added = 0;
    for (const { report, result } of late) {
      const given = history.some(
        (a) => a.batchId === report.batchId && a.hostId === report.hostId && a.outcome !== 'late',
      );
      // Known already: a result that batch gave in time, or a late one recorded before.
      const known = history.some(
        (a) => a.batchId === report.batchId && (a.outcome === 'late' || isResult(a.outcome as AttemptStatus)),
      );
      if (!given || known) continue;
      history.push({
        batchId: report.batchId,
        hostId: report.hostId,
        at: report.at,
        outcome: 'late',
        status: result.status,
        ...(result.durationMs !== undefined ? { durationMs: result.durationMs } : {}),
        ...(result.message ? { reason: result.message } : {}),
      });
      added++;
    }
    return added === 0 ? v : { ...v, late: (v.late ?? 0) + added, history };
  });
}

/** A ledger's tests by verdict, as the batch run's view shows them (wire/batch-runs.ts). */
export type LedgerCounts = z.infer<typeof batchCounts>;

export function countLedger(l: Ledger): LedgerCounts {
  const c: LedgerCounts = {
    total: Object.keys(l.tests).length,
    passed: 0,
    failed: 0,
    flaky: 0,
    skipped: 0,
    lost: 0,
    cancelled: 0,
    running: 0,
    queued: 0,
    requeued: 0,
  };
  const out = new Set(Object.values(l.out).flatMap((b) => b.tests));
  for (const t of Object.values(l.tests)) {
    if (t.verdict !== undefined) c[t.verdict]++;
    else if (out.has(t.id)) c.running++;
    else if (t.requeues > 0 || t.failedRuns > 0) c.requeued++;
    else c.queued++;
  }
  return c;
}
