/**
 * @module runBatchRun: a list of tests spread in batches over hosts until every test has
 * exactly one verdict. It leases hosts one at a time (up to maxHosts), and each leased
 * host takes batches while tests remain; a batch is one `runBatch` activity that
 * heartbeats every finished result, so finished work survives the host. The ledger
 * (domain/batch-ledger.ts) decides verdicts and requeues. The run works through its tests
 * in shards and continues-as-new between them, so history stays bounded for 100,000 tests.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';
import type { HostActivities } from '../activities/host/index.js';
import {
  countLedger,
  endBatch,
  hasWorkFor,
  isDone,
  newLedger,
  recordTest,
  settleWaiting,
  takeBatch,
  type BatchEnd,
  type Ledger,
  type LedgerCounts,
  type TestReport,
} from '../domain/batch-ledger.js';
import type { BatchProgress } from '../domain/batch-work.js';
import { batchId, CONTROL_TASK_QUEUE, hostTaskQueue, jobId, SCHEDULER_WORKFLOW_ID } from '../domain/ids.js';
import type { RunConfig } from '../domain/job-run.js';
import type { OutcomeReport } from '../domain/lab.js';
import { AbortCause, type JobResult, type ResultKind } from '../domain/outcome.js';
import type { PlanBatchRun } from '../domain/plan.js';
import type { BatchRunView, TestNote } from '../domain/views.js';
import { isHostLost, resultOfFailure } from './failures.js';
import { batchRunQuery } from './batch-run-messages.js';
import { cancelSignal } from './messages.js';
import { cancelLeaseRequestSignal, leaseDeniedSignal, leaseGrantedSignal, releaseLeaseSignal, requestLeaseSignal } from './scheduler-messages.js';

/** What one run of the workflow hands to the next (continue-as-new): no ledger, only totals. */
export interface BatchRunCarry {
  total: number;
  offset: number;
  nextBatch: number;
  counts: LedgerCounts;
  hosts: string[];
  batches: number;
  lostBatches: number;
  isolated: TestNote[];
  lost: TestNote[];
  failed: TestNote[];
  flaky: string[];
  reason?: string;
  cancelled?: string;
}

export interface BatchRunInput {
  submissionId: string;
  run: PlanBatchRun;
  config: RunConfig;
  carry?: BatchRunCarry;
}

const NOTES_KEPT = 200;
/** Time runBatch gets beyond batchTimeoutMs to stop the runner and report. */
const BATCH_DEADLINE_MARGIN_MS = 60_000;

const control = proxyActivities<ControlActivities>({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

const emptyCounts = (): LedgerCounts => ({ total: 0, passed: 0, failed: 0, flaky: 0, skipped: 0, lost: 0, cancelled: 0, running: 0, queued: 0, requeued: 0 });

export async function batchRunWorkflow(input: BatchRunInput): Promise<BatchRunView> {
  const { run, config, submissionId } = input;
  const runJobId = jobId(submissionId, run.number);
  const me = workflowInfo().workflowId;
  const carry: BatchRunCarry = input.carry ?? {
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
  let state: BatchRunView['state'] = run.testsCommand && carry.total === 0 ? 'listing' : 'running';
  let ledger: Ledger | undefined;
  const running = new Map<string, { hostId: string; tests: number }>();
  const scopes = new Set<CancellationScope>();
  let stop: string | undefined = carry.cancelled;

  // Leases: one host per request, as many requests as useful up to maxHosts.
  const pending = new Set<string>();
  const grants: { requestId: string; hostId: string; token: string }[] = [];
  let denied: string | undefined;
  let leaseSeq = 0;
  let changed = false;

  const view = (): BatchRunView => {
    const counts = sumCounts(carry.counts, ledger ? countLedger(ledger) : emptyCounts());
    counts.total = carry.total;
    counts.queued = Math.max(0, carry.total - carry.offset - (ledger ? Object.keys(ledger.tests).length : 0)) + (ledger ? countLedger(ledger).queued : 0);
    const live = ledger ? notes(ledger) : { isolated: [], lost: [], failed: [], flaky: [] };
    const v: BatchRunView = {
      id: runJobId,
      name: run.name,
      state,
      counts,
      hosts: [...new Set([...carry.hosts, ...[...running.values()].map((r) => r.hostId)])],
      batches: carry.batches,
      lostBatches: carry.lostBatches,
      isolated: [...carry.isolated, ...live.isolated].slice(0, NOTES_KEPT),
      lost: [...carry.lost, ...live.lost].slice(0, NOTES_KEPT),
      failed: [...carry.failed, ...live.failed].slice(0, NOTES_KEPT),
      flaky: [...carry.flaky, ...live.flaky].slice(0, NOTES_KEPT),
      running: [...running].map(([id, r]) => ({ batchId: id, hostId: r.hostId, tests: r.tests })),
      workflowId: me,
    };
    const reason = carry.reason ?? ledger?.budgetSpent ?? denied;
    if (reason !== undefined) v.reason = reason;
    if (state === 'done') v.result = resultOf(counts);
    return v;
  };

  setHandler(batchRunQuery, view);
  setHandler(cancelSignal, (req) => {
    stop ??= req.reason ?? 'cancelled';
    for (const s of scopes) s.cancel();
    changed = true;
  });
  setHandler(leaseGrantedSignal, (g) => {
    const lease = g.leases[0];
    if (!lease) return;
    if (!pending.delete(g.requestId) || stop !== undefined) {
      void releaseLease(lease.hostId, lease.token, []);
      return;
    }
    grants.push({ requestId: g.requestId, hostId: lease.hostId, token: lease.token });
    changed = true;
  });
  setHandler(leaseDeniedSignal, (d) => {
    if (!pending.delete(d.requestId)) return;
    denied = d.reason;
    changed = true;
  });

  const requestLease = async () => {
    const requestId = `${me}/${workflowInfo().runId.slice(0, 8)}/${++leaseSeq}`;
    pending.add(requestId);
    await getExternalWorkflowHandle(SCHEDULER_WORKFLOW_ID).signal(requestLeaseSignal, {
      requestId,
      requester: me,
      label: `${submissionId} batch run ${run.name}`,
      priority: run.priority,
      recipes: [{ workerClass: run.workerClass, hostRequires: run.hostRequires, excludedHosts: [], previousHosts: [] }],
      failWhenUnusable: true,
    });
  };
  const cancelPending = async () => {
    const ids = [...pending];
    pending.clear();
    await CancellationScope.nonCancellable(() => Promise.all(ids.map((requestId) => getExternalWorkflowHandle(SCHEDULER_WORKFLOW_ID).signal(cancelLeaseRequestSignal, { requestId }))));
  };

  // 0. A testsCommand lists the tests on a host first.
  if (state === 'listing') {
    const ids = await listTests();
    if (ids === undefined) return finish();
    await control.storeBatchTests({ submissionId, runName: run.name, tests: ids });
    carry.total = ids.length;
    state = 'running';
  }

  // 1. This run's shard of tests: its own ledger, worked off by the leased hosts.
  const shardSize = Math.max(run.batchSize, Math.min(config.batchShardTests, run.batchSize * 100));
  while (carry.offset < carry.total && stop === undefined) {
    const ids = await control.loadBatchTests({ submissionId, runName: run.name, offset: carry.offset, limit: shardSize });
    ledger = newLedger(ids, run);
    await workShard(ledger);
    await control.recordBatchVerdicts({
      submissionId,
      runJobId,
      offset: carry.offset,
      verdicts: Object.values(ledger.tests).map((t) => ({ test: t.id, verdict: t.verdict ?? 'lost', ...(t.reason !== undefined ? { reason: t.reason } : {}), attempts: t.attempts.filter((a) => a.outcome !== 'late').length, late: t.attempts.filter((a) => a.outcome === 'late').length })),
    });
    absorb(ledger);
    ledger = undefined;
    // One shard per run of this workflow: its history stays bounded however many tests.
    if (carry.offset < carry.total && stop === undefined) {
      await condition(() => pending.size === 0);
      await continueAsNew<typeof batchRunWorkflow>({ ...input, carry });
    }
  }
  if (stop !== undefined && carry.offset < carry.total) {
    // Shards never started: their tests are cancelled, without loading them.
    carry.counts.cancelled += carry.total - carry.offset;
    carry.offset = carry.total;
  }
  return finish();

  function finish(): BatchRunView {
    state = 'done';
    if (stop !== undefined) carry.cancelled = stop;
    return view();
  }

  /** Folds a finished shard into the totals carried forward. */
  function absorb(l: Ledger): void {
    const c = countLedger(l);
    carry.counts = sumCounts(carry.counts, { ...c, running: 0, queued: 0, requeued: 0 });
    carry.offset += c.total;
    const n = notes(l);
    carry.isolated = [...carry.isolated, ...n.isolated].slice(0, NOTES_KEPT);
    carry.lost = [...carry.lost, ...n.lost].slice(0, NOTES_KEPT);
    carry.failed = [...carry.failed, ...n.failed].slice(0, NOTES_KEPT);
    carry.flaky = [...carry.flaky, ...n.flaky].slice(0, NOTES_KEPT);
    if (l.budgetSpent !== undefined) carry.reason ??= l.budgetSpent;
    if (denied !== undefined && c.lost > 0) carry.reason ??= `no host can take batches: ${denied}`;
  }

  /** Leases hosts and lets each take batches until the shard's ledger is done. */
  async function workShard(l: Ledger): Promise<void> {
    const active = new Set<string>();
    const loops = new Set<Promise<void>>();
    denied = undefined;
    // Read through a function: signal handlers change it between awaits.
    const deniedNow = (): string | undefined => denied;
    for (;;) {
      // Cleared before looking, so anything that happens while this pass awaits wakes the next.
      changed = false;
      if (stop !== undefined) settleWaiting(l, 'cancelled', stop);
      for (const g of grants.splice(0)) {
        const loop = hostLoop(l, g.hostId, g.token, active).finally(() => {
          loops.delete(loop);
          changed = true;
        });
        loops.add(loop);
      }
      const refusal = deniedNow();
      if (refusal !== undefined && active.size === 0 && pending.size === 0) {
        settleWaiting(l, 'lost', `no host can take batches: ${refusal}`);
      }
      if (isDone(l) && loops.size === 0) break;
      const waiting = l.queue.length + l.isolation.length;
      const wanted = stop !== undefined || refusal !== undefined ? 0 : Math.min(run.maxHosts, active.size + Math.ceil(waiting / run.batchSize));
      if (waiting === 0 || wanted < active.size + pending.size) await cancelPending();
      for (let n = active.size + pending.size; n < wanted; n++) await requestLease();
      await condition(() => changed);
    }
    await cancelPending();
  }

  /** One leased host takes batches while there are tests it may take. */
  async function hostLoop(l: Ledger, hostId: string, token: string, active: Set<string>): Promise<void> {
    active.add(hostId);
    if (!carry.hosts.includes(hostId)) carry.hosts.push(hostId);
    const outcomes: OutcomeReport[] = [];
    let lostInARow = 0;
    try {
      while (stop === undefined) {
        const others = active.size - 1;
        if (!hasWorkFor(l, hostId, others)) break;
        const id = batchId(runJobId, carry.nextBatch++);
        const batch = takeBatch(l, hostId, id, others, Date.now());
        if (!batch) break;
        changed = true;
        carry.batches++;
        running.set(id, { hostId, tests: batch.tests.length });
        await control.openJob({ jobId: id, submissionId, name: `${run.name}#${id.slice(id.lastIndexOf('.') + 1)}`, attempt: 1, hostId, leaseToken: token, setNumber: 0 });
        const { results, end } = await runOne(hostId, token, id, batch.tests);
        const now = Date.now();
        for (const r of results) recordTest(l, id, hostId, r, now);
        endBatch(l, id, end, now);
        running.delete(id);
        const result = batchResult(end, results, batch.tests.length);
        outcomes.push({ jobId: id, result });
        void control.finishJob({ jobId: id, leaseToken: token, result });
        if (result.kind === 'aborted') {
          carry.lostBatches++;
          lostInARow++;
        } else {
          lostInARow = 0;
        }
        changed = true;
        if (end.kind === 'host-lost') break;
        if (lostInARow >= config.hostBreakerAborts) {
          log.warn('host lost too many batches in a row; handing it back', { hostId, lostInARow });
          break;
        }
      }
    } finally {
      active.delete(hostId);
      await releaseLease(hostId, token, outcomes);
    }
  }

  /** Runs one batch on a host; whatever happens, says which results came back and how it ended. */
  async function runOne(hostId: string, token: string, id: string, tests: string[]): Promise<{ results: TestReport[]; end: BatchEnd }> {
    const scope = new CancellationScope();
    scopes.add(scope);
    try {
      const outcome = await scope.run(() =>
        proxyActivities<HostActivities>({
          taskQueue: hostTaskQueue(hostId),
          scheduleToStartTimeout: config.hostPickupTimeoutMs,
          heartbeatTimeout: config.heartbeatTimeoutMs,
          startToCloseTimeout: run.batchTimeoutMs + BATCH_DEADLINE_MARGIN_MS,
          retry: { maximumAttempts: 1 },
          cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        }).runBatch({
          batchId: id,
          batchRunName: run.name,
          submissionId,
          hostId,
          leaseToken: token,
          tests,
          runner: run.runner,
          settings: run.settings,
          testTimeoutMs: run.testTimeoutMs,
          batchTimeoutMs: run.batchTimeoutMs,
        }),
      );
      return {
        results: outcome.results,
        end: { kind: outcome.end.kind, reason: outcome.end.reason, ...(outcome.current !== undefined ? { current: outcome.current } : {}), progressKnown: true },
      };
    } catch (err) {
      // The batch died with its host (or timed out): the last heartbeat says what finished.
      const details = heartbeatDetails(err);
      if (isCancellation(err)) return { results: details?.results ?? [], end: { kind: 'cancelled', reason: stop ?? 'cancelled', progressKnown: true } };
      const r = resultOfFailure(err, {
        hostId,
        jobName: `${run.name} batch ${id}`,
        phase: 'run',
        heartbeatTimeoutMs: config.heartbeatTimeoutMs,
        pickupTimeoutMs: config.hostPickupTimeoutMs,
        phaseTimeoutMs: run.batchTimeoutMs,
        now: Date.now(),
      });
      const kind = isHostLost(r) ? 'host-lost' : r.kind === 'aborted' && r.cause === AbortCause.RunTimeout ? 'timeout' : 'crashed';
      return {
        results: details?.results ?? [],
        end: { kind, reason: 'reason' in r ? r.reason : 'batch failed', ...(details?.current !== undefined ? { current: details.current } : {}), progressKnown: details !== undefined },
      };
    } finally {
      scopes.delete(scope);
    }
  }

  /** Runs testsCommand on one leased host; undefined when no host could do it. */
  async function listTests(): Promise<string[] | undefined> {
    await requestLease();
    await condition(() => grants.length > 0 || denied !== undefined || stop !== undefined);
    await cancelPending();
    const grant = grants.shift();
    if (!grant) {
      if (stop === undefined) carry.reason = `could not list the tests: ${denied ?? 'no host'}`;
      return undefined;
    }
    try {
      return await proxyActivities<HostActivities>({
        taskQueue: hostTaskQueue(grant.hostId),
        scheduleToStartTimeout: config.hostPickupTimeoutMs,
        heartbeatTimeout: config.heartbeatTimeoutMs,
        startToCloseTimeout: '10 minutes',
        retry: { maximumAttempts: 2 },
      }).listTests({ command: run.testsCommand!, settings: run.settings, hostId: grant.hostId, batchRunName: run.name, submissionId });
    } catch (err) {
      carry.reason = `could not list the tests on ${grant.hostId}: ${err instanceof ActivityFailure && err.cause ? err.cause.message : String(err)}`;
      return undefined;
    } finally {
      await releaseLease(grant.hostId, grant.token, []);
    }
  }
}

function releaseLease(hostId: string, token: string, outcomes: OutcomeReport[]): Promise<void> {
  return CancellationScope.nonCancellable(() => getExternalWorkflowHandle(SCHEDULER_WORKFLOW_ID).signal(releaseLeaseSignal, { hostId, token, outcomes }));
}

function heartbeatDetails(err: unknown): BatchProgress | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  const details = cause instanceof TimeoutFailure ? cause.lastHeartbeatDetails : undefined;
  if (typeof details !== 'object' || details === null || !Array.isArray((details as BatchProgress).results)) return undefined;
  return details as BatchProgress;
}

/** A batch as a job result: for its log page and for the host's broken-host count. */
function batchResult(end: BatchEnd, results: readonly TestReport[], size: number): JobResult {
  switch (end.kind) {
    case 'cancelled':
      return { kind: 'cancelled', reason: end.reason };
    case 'host-lost':
      return { kind: 'aborted', cause: AbortCause.HostLost, reason: end.reason };
    case 'timeout':
      return { kind: 'aborted', cause: AbortCause.RunTimeout, reason: end.reason };
    case 'crashed':
      return { kind: 'aborted', cause: AbortCause.RunnerCrash, reason: end.reason };
    case 'completed': {
      const failed = results.filter((r) => r.status === 'failed' || r.status === 'error');
      if (results.length < size) return { kind: 'aborted', cause: AbortCause.RunnerCrash, reason: `runner ended with ${size - results.length} of ${size} tests unreported (${end.reason})` };
      return failed.length > 0 ? { kind: 'failed', reason: `${failed.length} of ${size} tests failed` } : { kind: 'passed' };
    }
  }
}

function notes(l: Ledger): { isolated: TestNote[]; lost: TestNote[]; failed: TestNote[]; flaky: string[] } {
  const tests = Object.values(l.tests);
  return {
    isolated: tests.filter((t) => t.isolated !== undefined).map((t) => ({ test: t.id, reason: t.isolated! })),
    lost: tests.filter((t) => t.verdict === 'lost').map((t) => ({ test: t.id, reason: t.reason ?? 'lost' })),
    failed: tests.filter((t) => t.verdict === 'failed').map((t) => ({ test: t.id, reason: t.reason ?? 'failed' })),
    flaky: tests.filter((t) => t.verdict === 'flaky').map((t) => t.id),
  };
}

function sumCounts(a: LedgerCounts, b: LedgerCounts): LedgerCounts {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof LedgerCounts)[]) out[k] = a[k] + b[k];
  return out;
}

/** A batch run's result: cancelled, aborted (tests lost), failed (tests failed), or passed. */
export function resultOf(c: LedgerCounts): ResultKind {
  if (c.cancelled > 0) return 'cancelled';
  if (c.lost > 0) return 'aborted';
  if (c.failed > 0) return 'failed';
  return 'passed';
}
