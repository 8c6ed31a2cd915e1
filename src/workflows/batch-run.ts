/**
 * @module batchRunWorkflow: a list of tests spread in batches over hosts until every test has
 * exactly one verdict. It leases hosts one at a time (up to maxHosts), and each leased
 * host takes batches while tests remain; a batch is one `runBatch` activity that
 * heartbeats every finished result, so finished work survives the host. Every decision is
 * made in domain/batch-run-state.ts (`apply(state, event, now) → commands`); this file
 * turns signals and activity results into events and carries out the commands. The run
 * works through its tests in shards and continues-as-new between them, carrying only
 * run-wide totals, so history stays bounded for 100,000 tests; verdicts go to the result
 * store as they settle.
 */
import {
  type CancellationScope,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';
import { newCarry, runView, type BatchRunCarry } from '../domain/batch-run.js';
import {
  apply,
  cancelUnstarted,
  endRun,
  newRunState,
  openRequest,
  withdrawAll,
  type BatchCommand,
  type BatchEvent,
  type BatchRunState,
} from '../domain/batch-run-state.js';
import type { BatchTimeouts } from '../domain/batch-work.js';
import { CONTROL_TASK_QUEUE, jobId } from '../domain/ids.js';
import { brokenAfterAbortsOf, type RunConfig } from '../domain/job-run.js';
import type { Recovery } from '../domain/lab.js';
import type { PlanBatchRun } from '../domain/plan.js';
import type { BatchRunView } from '../domain/views.js';
import { runBatchOnHost, type BatchContext } from './batch-run-batch.js';
import { listTests } from './batch-run-listing.js';
import { batchRunQuery, lateResultsSignal } from './batch-run-messages.js';
import { recoverOnHost } from './chain-activities.js';
import { onLeaseAnswers, releaseLease, requestLease as askScheduler, withdrawLeaseRequests } from './lease-client.js';
import { cancelSignal } from './messages.js';
import { inBackground, Pending } from './signal.js';

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
/** Runs started before recovery hooks never ran recoverHost after a lost batch. */
const RECOVER_PATCH = 'batch-recover-after-abort';

const control = proxyActivities<ControlActivities>({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

type Command<K extends BatchCommand['kind']> = BatchCommand & { kind: K };

export async function batchRunWorkflow(input: BatchRunInput): Promise<BatchRunView> {
  const { run, config, submissionId } = input;
  const runJobId = jobId(submissionId, run.number);
  const me = workflowInfo().workflowId;
  const carry: BatchRunCarry = input.carry ?? newCarry(run);
  const { batchSize, requeueLimit, maxRequeueRatio, retryFailed, maxHosts } = run;
  const rules = {
    batchSize,
    requeueLimit,
    maxRequeueRatio,
    retryFailed,
    maxHosts,
    runJobId,
    requestPrefix: `${me}/${workflowInfo().runId.slice(0, 8)}`,
    breakerAborts: brokenAfterAbortsOf(config),
  };
  const s: BatchRunState = newRunState(rules, carry, Boolean(run.testsCommand) && carry.total === 0, Date.now());
  const scopes = new Set<CancellationScope>();
  /** finishJob and late-report calls in flight, and grants handed back: awaited before continue-as-new or the end, so no batch record stays unsealed */
  const finishing = new Pending();
  const batchContext: BatchContext = { run, config, submissionId, workflowId: me, scopes, stopped: () => s.stop };

  const view = (): BatchRunView =>
    runView({
      id: runJobId,
      name: run.name,
      workflowId: me,
      state: s.phase,
      carry,
      ledger: s.ledger,
      running: new Map(s.running.map((r) => [r.batchId, r])),
      denied: s.denied,
      stop: s.stop,
    });
  /** Applies an event, carries out the commands nobody waits for, and returns the others, in order. */
  const emit = (e: BatchEvent): BatchCommand[] => {
    const rest: BatchCommand[] = [];
    for (const c of apply(s, e, Date.now())) {
      if (c.kind === 'cancel-batches') for (const scope of scopes) scope.cancel();
      else if (c.kind === 'release' && c.handBack) finishing.add(releaseLease(run.pool, c.hostId, c.token, []));
      else if (c.kind === 'record-late-report') finishing.add(control.recordLateReport({ runJobId, report: c.report }));
      else if (c.kind === 'finish-job')
        finishing.add(control.finishJob({ jobId: c.jobId, leaseId: c.token, result: c.result }));
      else if (c.kind === 'log') log[c.level](c.message, c.fields);
      else rest.push(c);
    }
    return rest;
  };

  setHandler(batchRunQuery, view);
  setHandler(cancelSignal, (req) => void emit({ kind: 'cancel', reason: req.reason ?? 'cancelled' }));
  setHandler(lateResultsSignal, (late) => void emit({ kind: 'late-results', late }));
  onLeaseAnswers({
    granted: (g) => {
      const lease = g.leases[0];
      if (lease) emit({ kind: 'granted', requestId: g.requestId, hostId: lease.hostId, token: lease.token });
    },
    denied: (d) => void emit({ kind: 'denied', requestId: d.requestId, reason: d.reason }),
  });

  const ask = (c: Command<'request-lease'>) =>
    askScheduler(
      run.pool,
      {
        requestId: c.requestId,
        requester: me,
        label: `${submissionId} batch run ${run.name}`,
        priority: run.priority,
        // Hosts where waiting tests were lost come last: requeued tests go elsewhere where they can.
        recipes: [
          {
            workerClass: run.workerClass,
            hostRequires: run.hostRequires,
            excludedHosts: c.excluded,
            previousHosts: c.previousHosts,
          },
        ],
        failWhenUnusable: true,
      },
      // Runs recorded before the back-off failed here when the scheduler was not up yet.
      () => patched(LEASE_BACKOFF_PATCH),
    );
  const storeVerdicts = (c: Command<'store-verdicts'>) =>
    control.recordBatchVerdicts({ submissionId, runJobId, offset: c.offset, verdicts: c.verdicts });
  const nextRun = async (): Promise<never> => {
    await condition(() => s.pending.length === 0);
    await finishing.drain();
    return continueAsNew<typeof batchRunWorkflow>({ ...input, carry });
  };
  const finish = (): BatchRunView => {
    endRun(s);
    return view();
  };

  // 0. A testsCommand lists the tests on a host first; its list reaches the result store in chunks.
  if (s.phase === 'listing') {
    const ok = await listTests({
      run,
      config,
      submissionId,
      runJobId,
      carry,
      stopped: () => s.stop,
      scopes,
      nextRun,
      leaseHost: async () => {
        await ask(openRequest(s, []));
        await condition(() => s.grants.length > 0 || s.denied !== undefined || s.stop !== undefined);
        await withdrawLeaseRequests(run.pool, withdrawAll(s).requestIds);
        const grant = s.grants.shift();
        return { ...(grant ? { grant } : {}), ...(s.denied !== undefined ? { denied: s.denied } : {}) };
      },
    });
    if (!ok) return finish();
    s.phase = 'running';
  }

  // 1. This run's shard of tests: its own ledger, worked off by the leased hosts.
  const shardSize = Math.max(run.batchSize, Math.min(config.batchShardTests, run.batchSize * 100));
  while (carry.offset < carry.total && s.stop === undefined) {
    const tests = await control.loadBatchTests({
      submissionId,
      runName: run.name,
      offset: carry.offset,
      limit: shardSize,
    });
    emit({ kind: 'shard-loaded', tests });
    await workShard();
    await withdrawLeaseRequests(run.pool, withdrawAll(s).requestIds);
    for (const c of emit({ kind: 'shard-ended' })) if (c.kind === 'store-verdicts') await storeVerdicts(c);
    if (emit({ kind: 'shard-stored' }).some((c) => c.kind === 'continue-as-new')) await nextRun();
  }
  cancelUnstarted(s);
  await finishing.drain();
  return finish();

  /** The shard's passes: each starts the granted hosts, then asks for leases, stores verdicts or waits, as told, until the shard is done. */
  async function workShard(): Promise<void> {
    for (;;) {
      // Taken before looking, so anything that happens while this pass awaits wakes the next.
      const seen = s.version;
      let commands = emit({ kind: 'tick' });
      do {
        for (const c of commands) {
          if (c.kind === 'start-host') inBackground(hostWorker(c), `batches on ${c.hostId}`);
          else if (c.kind === 'request-lease') await ask(c);
          else if (c.kind === 'withdraw') await withdrawLeaseRequests(run.pool, c.requestIds);
          else if (c.kind === 'store-verdicts') await storeVerdicts(c);
          else if (c.kind === 'sleep') await condition(() => s.version !== seen, c.timeoutMs);
          else if (c.kind === 'shard-done') return;
        }
        commands = emit({ kind: 'carried-out' });
      } while (commands.length > 0);
    }
  }

  /**
   * One leased host takes batches while the state says so, then hands its lease back. After
   * an infrastructure abort it runs its recoverCommand first, still holding the lease; a
   * recovery that failed ends its turn, and the release tells the scheduler to break it.
   */
  async function hostWorker(c: Command<'start-host'>): Promise<void> {
    const { hostId } = c;
    let recovery: Recovery | undefined;
    try {
      let next = emit({ kind: 'host-started', hostId, token: c.token, overflow: c.overflow });
      for (;;) {
        const step = next[0];
        if (step?.kind === 'host-wait') {
          const seen = s.version;
          await condition(() => s.version !== seen || s.stop !== undefined, step.timeoutMs);
        } else if (step?.kind === 'run-batch') {
          const ended = await runBatchOnHost(batchContext, step);
          const after = emit({ kind: 'batch-ended', hostId, batchId: step.batchId, ...ended });
          if (after.some((a) => a.kind === 'leave')) break;
          const recover = after.find((a): a is Command<'recover-host'> => a.kind === 'recover-host');
          if (recover && patched(RECOVER_PATCH)) {
            recovery = await recoverOnHost(hostId, config, {
              jobId: recover.batchId,
              cause: recover.cause,
              reason: recover.reason,
            });
            if (recovery && !recovery.ok) break;
          }
        } else {
          break;
        }
        next = emit({ kind: 'host-ready', hostId });
      }
    } finally {
      try {
        for (const r of emit({ kind: 'host-leaving', hostId }))
          if (r.kind === 'release') await releaseLease(run.pool, r.hostId, r.token, r.outcomes, recovery);
      } finally {
        emit({ kind: 'host-released', hostId });
      }
    }
  }
}
