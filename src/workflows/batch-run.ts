/**
 * @module batchRunWorkflow: a list of tests spread in batches over hosts until every test has
 * exactly one verdict. It leases hosts one at a time (up to maxHosts), and each leased
 * host takes batches while tests remain; a batch is one `runBatch` activity that
 * heartbeats every finished result, so finished work survives the host. The ledger
 * (domain/batch-ledger.ts) decides verdicts, requeues and whose fault a lost batch was.
 * The run works through its tests in shards and continues-as-new between them, carrying
 * only run-wide totals, so history stays bounded for 100,000 tests; verdicts go to the
 * result store as they settle.
 */
import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';
import type { HostActivities } from '../activities/host/index.js';
import {
  countsForBreaker,
  endBatch,
  isDone,
  newLedger,
  recordLate,
  recordTest,
  settleWaiting,
  strandedOn,
  takeBatch,
  takeBlame,
  takeVerdicts,
  waitingCount,
  type BatchEnd,
  type Ledger,
  type TestReport,
} from '../domain/batch-ledger.js';
import {
  absorbShard,
  batchResult,
  denialMeaning,
  hasVerdictsToStore,
  hostStep,
  leasesWanted,
  newCarry,
  runView,
  type BatchEntry,
  type BatchRunCarry,
  type HostSlot,
} from '../domain/batch-run.js';
import { batchTimeoutFor, type BatchTimeouts } from '../domain/batch-work.js';
import { batchId, CONTROL_TASK_QUEUE, hostTaskQueue, jobId } from '../domain/ids.js';
import { brokenAfterAbortsOf, type RunConfig } from '../domain/job-run.js';
import type { PlanBatchRun } from '../domain/plan.js';
import type { BatchRunView } from '../domain/views.js';
import { listTests } from './batch-run-listing.js';
import { batchEndOfFailure } from './failures.js';
import { batchRunQuery, lateResultsSignal } from './batch-run-messages.js';
import { cancelSignal } from './messages.js';
import { Pending } from './signal.js';
import { onLeaseAnswers, releaseLease, requestLease as askScheduler, withdrawLeaseRequests } from './lease-client.js';

export type { BatchRunCarry };

export interface BatchRunInput {
  submissionId: string;
  /** the plan's batch run; `batchTimeoutGiven` is set when the spec gave batchTimeoutMs */
  run: PlanBatchRun & Pick<BatchTimeouts, 'batchTimeoutGiven'>;
  config: RunConfig;
  carry?: BatchRunCarry;
}

/** A lease request the scheduler could not take (not up yet) is tried again, not a failure of the run. */
const LEASE_BACKOFF_PATCH = 'batch-run-lease-backoff';
/** Time runBatch gets beyond its batch's deadline to stop the runner and report. */
const BATCH_DEADLINE_MARGIN_MS = 60_000;
/** Settled verdicts go to the result store at most this often (one write per period, whatever the count). */
const VERDICT_FLUSH_MS = 2_000;

const control = proxyActivities<ControlActivities>({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

export async function batchRunWorkflow(input: BatchRunInput): Promise<BatchRunView> {
  const { run, config, submissionId } = input;
  const runJobId = jobId(submissionId, run.number);
  const me = workflowInfo().workflowId;
  const carry: BatchRunCarry = input.carry ?? newCarry(run);
  let state: BatchRunView['state'] = run.testsCommand && carry.total === 0 ? 'listing' : 'running';
  let ledger: Ledger | undefined;
  const running = new Map<string, { hostId: string; tests: number }>();
  const scopes = new Set<CancellationScope>();
  let stop: string | undefined = carry.cancelled;
  /** finishJob and late-report calls in flight: awaited before continue-as-new or the end, so no batch record stays unsealed */
  const finishing = new Pending();

  // Leases: one host per request, as many requests as useful up to maxHosts. Every request
  // excludes the hosts the run holds, so a denial means "no other host".
  const pending = new Map<string, { excluded: string[] }>();
  const grants: { requestId: string; hostId: string; token: string; overflow: boolean }[] = [];
  const active = new Map<string, HostSlot>();
  /** the run's hosts the lab has no alternative to (a request excluding them was denied); reset when the run's hosts change */
  let lonely: Set<string> | undefined;
  let denied: string | undefined;
  let leaseSeq = 0;
  /** bumped on anything a waiting loop may care about */
  let version = 0;
  const bump = () => void version++;
  const entries = new Map<string, BatchEntry>();

  const view = (): BatchRunView => runView({ id: runJobId, name: run.name, workflowId: me, state, carry, ledger, running, denied, stop });

  setHandler(batchRunQuery, view);
  setHandler(cancelSignal, (req) => {
    stop ??= req.reason ?? 'cancelled';
    for (const s of scopes) s.cancel();
    bump();
  });
  setHandler(lateResultsSignal, (late) => {
    // A batch the run gave up reports after all: history for its tests, never a verdict.
    const results = late.results.slice(0, run.batchSize);
    const l = ledger;
    if (l && results.some((r) => l.tests[r.test]?.attempts.some((a) => a.batchId === late.batchId))) {
      const recorded = recordLate(l, late.batchId, late.hostId, results, Date.now());
      log.info('late results of a fenced batch kept as history', { batchId: late.batchId, hostId: late.hostId, recorded });
      bump();
      return;
    }
    // Its shard's verdicts are stored already: the report goes beside them (the store checks
    // that batch ran those tests on that host, as the stored history says).
    const report = { batchId: late.batchId, hostId: late.hostId, at: Date.now(), results };
    finishing.add(control.recordLateReport({ runJobId, report }));
    log.info('late results of a fenced batch from a stored shard kept beside its verdicts', { batchId: late.batchId, hostId: late.hostId });
  });
  onLeaseAnswers({
    granted: (g) => {
      const lease = g.leases[0];
      if (!lease) return;
      if (!pending.delete(g.requestId) || stop !== undefined) {
        // Handed straight back; settled before the run continues as new or ends.
        finishing.add(releaseLease(run.pool, lease.hostId, lease.token, []));
        return;
      }
      grants.push({ requestId: g.requestId, hostId: lease.hostId, token: lease.token, overflow: active.size >= run.maxHosts });
      bump();
    },
    denied: (d) => {
      const request = pending.get(d.requestId);
      if (!request) return;
      pending.delete(d.requestId);
      const meaning = denialMeaning(request.excluded, active);
      if (meaning.kind === 'no-host') denied = d.reason;
      else if (meaning.kind === 'lonely') lonely = meaning.hosts;
      bump();
    },
  });

  const requestLease = async (previousHosts: string[]) => {
    const requestId = `${me}/${workflowInfo().runId.slice(0, 8)}/${++leaseSeq}`;
    const excluded = [...active.keys()];
    pending.set(requestId, { excluded });
    await askScheduler(
      run.pool,
      {
        requestId,
        requester: me,
        label: `${submissionId} batch run ${run.name}`,
        priority: run.priority,
        // Hosts where waiting tests were lost come last: requeued tests go elsewhere where they can.
        recipes: [{ workerClass: run.workerClass, hostRequires: run.hostRequires, excludedHosts: excluded, previousHosts }],
        failWhenUnusable: true,
      },
      // Runs recorded before the back-off failed here when the scheduler was not up yet.
      () => patched(LEASE_BACKOFF_PATCH),
    );
  };
  const cancelPending = async () => {
    const ids = [...pending.keys()];
    pending.clear();
    await withdrawLeaseRequests(run.pool, ids);
  };
  const settleFinishing = async () => {
    await finishing.drain();
  };
  const nextRun = async (): Promise<never> => {
    await condition(() => pending.size === 0);
    await settleFinishing();
    return continueAsNew<typeof batchRunWorkflow>({ ...input, carry });
  };

  // 0. A testsCommand lists the tests on a host first; its list reaches the result store in chunks.
  if (state === 'listing') {
    const ok = await listTests({
      run,
      config,
      submissionId,
      runJobId,
      carry,
      stopped: () => stop,
      scopes,
      nextRun,
      leaseHost: async () => {
        await requestLease([]);
        await condition(() => grants.length > 0 || denied !== undefined || stop !== undefined);
        await cancelPending();
        const grant = grants.shift();
        return { ...(grant ? { grant } : {}), ...(denied !== undefined ? { denied } : {}) };
      },
    });
    if (!ok) return finish();
    state = 'running';
  }

  // 1. This run's shard of tests: its own ledger, worked off by the leased hosts.
  const shardSize = Math.max(run.batchSize, Math.min(config.batchShardTests, run.batchSize * 100));
  while (carry.offset < carry.total && stop === undefined) {
    const ids = await control.loadBatchTests({ submissionId, runName: run.name, offset: carry.offset, limit: shardSize });
    ledger = newLedger(ids, run, { tests: carry.total, requeues: carry.requeues ?? 0, ...(carry.budgetSpent !== undefined ? { budgetSpent: carry.budgetSpent } : {}) });
    await workShard(ledger);
    // Sealed: late results from now on go beside the stored verdicts, not into this ledger.
    const sealed = ledger;
    ledger = undefined;
    absorbShard(carry, sealed, denied);
    await storeVerdicts(sealed, true);
    // One shard per run of this workflow: its history stays bounded however many tests.
    if (carry.offset < carry.total && stop === undefined) await nextRun();
  }
  if (stop !== undefined && carry.offset < carry.total) {
    // Shards never started: their tests are cancelled, without loading them.
    carry.counts.cancelled += carry.total - carry.offset;
    carry.offset = carry.total;
  }
  await settleFinishing();
  return finish();

  function finish(): BatchRunView {
    state = 'done';
    if (stop !== undefined) carry.cancelled = stop;
    return view();
  }

  /** Writes the verdicts settled since the last write (all of them at the shard's end) as one more part. */
  async function storeVerdicts(l: Ledger, all: boolean): Promise<void> {
    const verdicts = takeVerdicts(l, all);
    if (verdicts.length === 0) return;
    const offset = carry.verdictsStored ?? 0;
    carry.verdictsStored = offset + verdicts.length;
    await control.recordBatchVerdicts({ submissionId, runJobId, offset, verdicts });
  }

  /** Takes what the ledger learnt about earlier lost batches: whose fault they were. */
  function applyBlame(l: Ledger): void {
    for (const b of takeBlame(l)) {
      const entry = entries.get(b.batchId);
      if (entry && entry.fault === 'pending') {
        entry.fault = b.fault;
        bump();
      }
    }
  }

  /** Leases hosts and lets each take batches until the shard's ledger is done. */
  async function workShard(l: Ledger): Promise<void> {
    const loops = new Set<Promise<void>>();
    denied = undefined;
    lonely = undefined;
    let storedAt = Date.now();
    // Read through a function: signal handlers change it between awaits.
    const deniedNow = (): string | undefined => denied;
    for (;;) {
      // Taken before looking, so anything that happens while this pass awaits wakes the next.
      const seen = version;
      if (stop !== undefined) settleWaiting(l, 'cancelled', stop);
      for (const g of grants.splice(0)) {
        const loop = hostLoop(l, { hostId: g.hostId, token: g.token, overflow: g.overflow, entries: [] }).finally(() => {
          loops.delete(loop);
          bump();
        });
        loops.add(loop);
      }
      const refusal = deniedNow();
      if (refusal !== undefined && active.size === 0 && pending.size === 0) {
        settleWaiting(l, 'lost', `no host can take batches: ${refusal}`);
      }
      applyBlame(l);
      if (isDone(l) && loops.size === 0) break;
      const waiting = waitingCount(l);
      if (stop !== undefined || refusal !== undefined || waiting === 0) {
        if (pending.size > 0) await cancelPending();
      } else if (lonely === undefined) {
        const wanted = leasesWanted(l, run, active.size, pending.size);
        for (let n = 0; n < wanted.count; n++) await requestLease(wanted.previousHosts);
        // Tests lost on every host the run has need one more, even past maxHosts (an idle host then leaves).
        if (pending.size === 0 && strandedOn(l, [...active.keys()]) > 0) await requestLease(wanted.previousHosts);
      }
      // Settled verdicts go to the store as they come, in one write per period.
      const sinceStored = Date.now() - storedAt;
      if (sinceStored >= VERDICT_FLUSH_MS && hasVerdictsToStore(l)) {
        await storeVerdicts(l, false);
        storedAt = Date.now();
        continue;
      }
      await condition(() => version !== seen, hasVerdictsToStore(l) ? Math.max(1, VERDICT_FLUSH_MS - sinceStored) : undefined);
    }
    await cancelPending();
  }

  /** One leased host takes batches while there are tests for it. */
  async function hostLoop(l: Ledger, slot: HostSlot): Promise<void> {
    const { hostId, token } = slot;
    active.set(hostId, slot);
    lonely = undefined;
    if (!carry.hosts.includes(hostId)) carry.hosts.push(hostId);
    try {
      while (stop === undefined) {
        const step = hostStep(l, slot, { maxHosts: run.maxHosts, activeHosts: [...active.keys()], lonely, breakerAborts: brokenAfterAbortsOf(config) }, Date.now());
        if (step.kind === 'leave') {
          if (step.breaker !== undefined) log.warn('host lost too many batches in a row by its own fault; handing it back', { hostId, faults: step.breaker });
          break;
        }
        if (step.kind === 'wait') {
          slot.idleSince ??= Date.now();
          const seen = version;
          await condition(() => version !== seen || stop !== undefined, Math.max(1, step.untilMs - Date.now()));
          continue;
        }
        const p = step.placement;
        delete slot.idleSince;
        const batchNumber = carry.nextBatch;
        const id = batchId(runJobId, batchNumber);
        const batch = takeBatch(l, hostId, id, p, Date.now());
        if (!batch) break;
        carry.nextBatch++;
        bump();
        carry.batches++;
        running.set(id, { hostId, tests: batch.tests.length });
        // The batch's record, and its upload token (sealed: only the host opens it).
        const uploadToken = await control.openJob({ jobId: id, submissionId, name: `${run.name}#${batchNumber}`, attempt: 1, hostId, leaseId: token, setNumber: 0 });
        const { results, end, hostShuttingDown } = await runOne(hostId, uploadToken, id, batch.tests);
        const now = Date.now();
        for (const r of results) recordTest(l, id, hostId, r, now);
        const ended = endBatch(l, id, end, now);
        running.delete(id);
        const result = batchResult(end, results, batch.tests.length);
        const entry: BatchEntry = { jobId: id, result, fault: ended.fault };
        slot.entries.push(entry);
        entries.set(id, entry);
        applyBlame(l);
        finishing.add(control.finishJob({ jobId: id, leaseId: token, result }));
        if (result.kind === 'aborted') carry.lostBatches++;
        bump();
        // A host that is gone, never started the batch, or is shutting down gets no more batches.
        if (end.kind === 'host-lost' || end.kind === 'not-started' || end.kind === 'host-shutdown' || hostShuttingDown) break;
      }
    } finally {
      active.delete(hostId);
      lonely = undefined;
      // What the scheduler's breaker counts: batches the host lost by its own fault, and the
      // passed ones that reset it. A batch lost to a test (an isolated suspect) is not the host's.
      await releaseLease(run.pool, hostId, token, slot.entries.filter(countsForBreaker).map((e) => ({ jobId: e.jobId, result: e.result })));
    }
  }

  /** Runs one batch on a host; whatever happens, says which results came back and how it ended. */
  async function runOne(hostId: string, uploadToken: string, id: string, tests: string[]): Promise<{ results: TestReport[]; end: BatchEnd; hostShuttingDown?: boolean }> {
    const scope = new CancellationScope();
    scopes.add(scope);
    const timeoutMs = batchTimeoutFor(run, tests.length);
    try {
      const outcome = await scope.run(() =>
        proxyActivities<HostActivities>({
          taskQueue: hostTaskQueue(hostId),
          scheduleToStartTimeout: config.hostPickupTimeoutMs,
          heartbeatTimeout: config.heartbeatTimeoutMs,
          startToCloseTimeout: timeoutMs + BATCH_DEADLINE_MARGIN_MS,
          retry: { maximumAttempts: 1 },
          cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        }).runBatch({
          batchId: id,
          batchRunName: run.name,
          batchRunWorkflowId: me,
          submissionId,
          hostId,
          leaseToken: uploadToken,
          tests,
          runner: run.runner,
          settings: run.settings,
          ...(run.secrets ? { secrets: run.secrets } : {}),
          testTimeoutMs: run.testTimeoutMs,
          batchTimeoutMs: timeoutMs,
        }),
      );
      const host = outcome.end.kind;
      // Only a person's cancel is `cancelled`; anything else that stopped it is the host's business.
      const kind = host === 'cancelled' && stop === undefined ? 'host-lost' : host;
      return {
        results: outcome.results,
        end: { kind, reason: outcome.end.reason, ...(outcome.current !== undefined ? { current: outcome.current } : {}), progressKnown: true },
        ...(outcome.hostShuttingDown ? { hostShuttingDown: true } : {}),
      };
    } catch (err) {
      return batchEndOfFailure(err, {
        hostId,
        jobName: `${run.name} batch ${id}`,
        batchId: id,
        stop,
        phase: 'run',
        heartbeatTimeoutMs: config.heartbeatTimeoutMs,
        pickupTimeoutMs: config.hostPickupTimeoutMs,
        phaseTimeoutMs: timeoutMs,
        now: Date.now(),
      });
    } finally {
      scopes.delete(scope);
    }
  }
}

