/**
 * @module The ledger of a batch run: every expected test and its one final verdict, the
 * queues of tests still to run (normal, and isolation: one test per batch), the batches
 * out on hosts, and the rules that turn what happened to a batch into verdicts and
 * requeues. Execution is at-least-once (a batch may die after some tests finished);
 * counting is exactly-once: a test's first verdict stands, later results are history.
 * Pure: the batch workflow holds a ledger and calls these functions; unit tests too.
 */

export interface BatchPolicy {
  batchSize: number;
  /** a test requeued more than this many times is reported lost */
  requeueLimit: number;
  /** stop requeuing once requeues exceed this share of all tests (but allow two lost batches' worth) */
  maxRequeueRatio: number;
  /** rerun a failed test this many times; a pass after a failure is `flaky` */
  retryFailed: number;
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

export interface TestAttempt {
  batchId: string;
  hostId: string;
  at: number;
  /** what this attempt gave: a result, or why it gave none */
  outcome: TestStatus | 'lost' | 'suspect' | 'late';
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
}

export interface BatchOut {
  batchId: string;
  hostId: string;
  tests: string[];
  isolated: boolean;
  startedAt: number;
}

export interface Ledger {
  policy: BatchPolicy;
  tests: Record<string, LedgerTest>;
  /** tests waiting for a normal batch, in order */
  queue: string[];
  /** tests waiting for a batch of their own (suspects) */
  isolation: string[];
  out: Record<string, BatchOut>;
  requeuesTotal: number;
  /** set once the run stopped requeuing (maxRequeueRatio reached) */
  budgetSpent?: string;
}

export function newLedger(testIds: readonly string[], policy: BatchPolicy): Ledger {
  const tests: Record<string, LedgerTest> = {};
  for (const id of testIds) tests[id] ??= { id, attempts: [], requeues: 0, failedRuns: 0, lostOn: [] };
  return { policy, tests, queue: Object.keys(tests), isolation: [], out: {}, requeuesTotal: 0 };
}

const total = (l: Ledger) => Object.keys(l.tests).length;

/**
 * The next batch for a host: a suspect in isolation first, else up to batchSize tests from
 * the queue. Near the end the batches shrink, so the last tests (and requeued ones) are
 * shared by all hosts instead of trailing on one. Tests lost on this host go to other
 * hosts when there are others.
 */
export function takeBatch(l: Ledger, hostId: string, batchId: string, otherHosts: number, now: number): BatchOut | undefined {
  const welcome = (id: string) => otherHosts === 0 || !l.tests[id]!.lostOn.includes(hostId);
  const isolated = l.isolation.find(welcome);
  let tests: string[];
  if (isolated !== undefined) {
    l.isolation = l.isolation.filter((id) => id !== isolated);
    tests = [isolated];
  } else {
    tests = [];
    const rest: string[] = [];
    // Shrink towards the end, but not below a quarter batch: every batch costs a start.
    const floor = Math.ceil(l.policy.batchSize / 4);
    const size = Math.min(l.policy.batchSize, Math.max(floor, Math.ceil(l.queue.length / (otherHosts + 1))));
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

/** True when no test is waiting that this host may take. */
export function hasWorkFor(l: Ledger, hostId: string, otherHosts: number): boolean {
  const welcome = (id: string) => otherHosts === 0 || !l.tests[id]!.lostOn.includes(hostId);
  return l.isolation.some(welcome) || l.queue.some(welcome);
}

export type RecordResult = 'accepted' | 'late' | 'unknown';

/** One test's result from a batch. Only the first verdict counts; a later one is history. */
export function recordTest(l: Ledger, batchId: string, hostId: string, r: TestReport, now: number): RecordResult {
  const test = l.tests[r.test];
  if (!test) return 'unknown';
  const batch = l.out[batchId];
  const attempt: TestAttempt = { batchId, hostId, at: now, outcome: r.status, ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}), ...(r.message ? { reason: r.message } : {}) };
  if (test.verdict !== undefined || !batch?.tests.includes(r.test) || test.attempts.some((a) => a.batchId === batchId && a.outcome !== 'late')) {
    test.attempts.push({ ...attempt, outcome: 'late' });
    return 'late';
  }
  test.attempts.push(attempt);
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

export type BatchEndKind = 'completed' | 'crashed' | 'timeout' | 'host-lost' | 'cancelled';

export interface BatchEnd {
  kind: BatchEndKind;
  reason: string;
  /** the test running when the batch ended, from the last progress the host reported */
  current?: string;
  /** false when nothing is known of the batch's progress (no heartbeat arrived) */
  progressKnown: boolean;
}

export interface EndOutcome {
  /** tests requeued to the normal queue */
  requeued: string[];
  /** tests put in isolation */
  isolated: string[];
  /** tests that got their final verdict from this end (lost or cancelled) */
  settled: string[];
}

/**
 * A batch is back (or gone). Its tests without a result are requeued: the suspect (the
 * test running when it died) into isolation, its untouched batch-mates to the normal
 * queue; with no progress known, all of them into isolation. Failed tests asked to be
 * retried go back too. Limits: requeueLimit per test, maxRequeueRatio for the run.
 */
export function endBatch(l: Ledger, batchId: string, end: BatchEnd, now: number): EndOutcome {
  const batch = l.out[batchId];
  const outcome: EndOutcome = { requeued: [], isolated: [], settled: [] };
  if (!batch) return outcome;
  delete l.out[batchId];
  for (const id of batch.tests) {
    const test = l.tests[id]!;
    if (test.verdict !== undefined) continue;
    const ran = test.attempts.some((a) => a.batchId === batchId && a.outcome !== 'late');
    if (ran) {
      // It failed and is to be retried (retryFailed): back to the queue, not a requeue.
      l.queue.push(id);
      outcome.requeued.push(id);
      continue;
    }
    if (end.kind === 'cancelled') {
      settle(test, 'cancelled', end.reason, outcome);
      continue;
    }
    const suspect = end.kind !== 'completed' && (!end.progressKnown || end.current === id);
    const why = end.kind === 'completed' ? `runner ended without a result for it (${end.reason})` : end.reason;
    test.attempts.push({ batchId, hostId: batch.hostId, at: now, outcome: suspect ? 'suspect' : 'lost', reason: why });
    if (!test.lostOn.includes(batch.hostId)) test.lostOn.push(batch.hostId);
    test.requeues++;
    l.requeuesTotal++;
    if (test.requeues > l.policy.requeueLimit) {
      settle(test, 'lost', `lost ${test.requeues} times (requeueLimit ${l.policy.requeueLimit}): ${describeLosses(test)}`, outcome);
      continue;
    }
    if (l.budgetSpent === undefined && l.requeuesTotal > requeueBudget(l)) {
      l.budgetSpent = `stopped requeuing: ${l.requeuesTotal} requeues exceed the run's budget of ${requeueBudget(l)} (maxRequeueRatio ${l.policy.maxRequeueRatio} of ${total(l)} tests, at least two batches' worth)`;
    }
    if (l.budgetSpent !== undefined) {
      settle(test, 'lost', `${l.budgetSpent}; ${describeLosses(test)}`, outcome);
      continue;
    }
    if (suspect) {
      test.isolated = end.progressKnown ? `running when its batch ${batchId} ended: ${end.reason}` : `in batch ${batchId} that ended with no progress known: ${end.reason}`;
      l.isolation.push(id);
      outcome.isolated.push(id);
    } else {
      l.queue.push(id);
      outcome.requeued.push(id);
    }
  }
  return outcome;
}

/** How many requeues the run allows: its ratio of all tests, but never less than two lost batches. */
function requeueBudget(l: Ledger): number {
  return Math.max(Math.ceil(l.policy.maxRequeueRatio * total(l)), 2 * l.policy.batchSize);
}

function settle(test: LedgerTest, verdict: Verdict, reason: string, outcome: EndOutcome): void {
  test.verdict = verdict;
  test.reason = reason;
  outcome.settled.push(test.id);
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
    }
  }
  return waiting;
}

export function isDone(l: Ledger): boolean {
  return Object.keys(l.out).length === 0 && Object.values(l.tests).every((t) => t.verdict !== undefined);
}

export interface LedgerCounts {
  total: number;
  passed: number;
  failed: number;
  flaky: number;
  skipped: number;
  lost: number;
  cancelled: number;
  /** in a batch out on a host, no result yet */
  running: number;
  /** waiting for a first batch */
  queued: number;
  /** waiting again after a lost batch (normal queue or isolation) */
  requeued: number;
}

export function countLedger(l: Ledger): LedgerCounts {
  const c: LedgerCounts = { total: total(l), passed: 0, failed: 0, flaky: 0, skipped: 0, lost: 0, cancelled: 0, running: 0, queued: 0, requeued: 0 };
  const out = new Set(Object.values(l.out).flatMap((b) => b.tests));
  for (const t of Object.values(l.tests)) {
    if (t.verdict !== undefined) c[t.verdict]++;
    else if (out.has(t.id)) c.running++;
    else if (t.requeues > 0 || t.failedRuns > 0) c.requeued++;
    else c.queued++;
  }
  return c;
}
