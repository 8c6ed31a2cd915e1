/**
 * @module One batch of a batch run on its host: `runBatchOnHost` opens the batch's job
 * record (its upload token, sealed: only the host opens it), runs the `runBatch` activity on
 * the host's task queue in a scope the run's cancel cancels, and says, whatever happened,
 * which results came back and how the batch ended (failures.ts maps Temporal's failures).
 * Part of batchRunWorkflow (batch-run.ts).
 */
import { ActivityCancellationType, CancellationScope, proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';
import type { HostActivities } from '../activities/host/index.js';
import type { BatchEnd, TestReport } from '../domain/batch-ledger.js';
import { batchTimeoutFor, type BatchTimeouts } from '../domain/batch-work.js';
import { CONTROL_TASK_QUEUE, hostTaskQueue } from '../domain/ids.js';
import type { RunConfig } from '../domain/job-run.js';
import type { PlanBatchRun } from '../domain/plan.js';
import { batchEndOfFailure } from './failures.js';

/** Time runBatch gets beyond its batch's deadline to stop the runner and report. */
const BATCH_DEADLINE_MARGIN_MS = 60_000;

const control = proxyActivities<ControlActivities>({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

export interface BatchContext {
  run: PlanBatchRun & Pick<BatchTimeouts, 'batchTimeoutGiven'>;
  config: RunConfig;
  submissionId: string;
  workflowId: string;
  /** cancellable scopes the run's cancel cancels */
  scopes: Set<CancellationScope>;
  /** a person's cancel, if any (read each time: signals change it) */
  stopped: () => string | undefined;
}

export interface BatchOnHost {
  hostId: string;
  /** the host's lease token */
  token: string;
  batchId: string;
  batchNumber: number;
  tests: string[];
}

export interface BatchReturn {
  results: TestReport[];
  end: BatchEnd;
  hostShuttingDown?: boolean;
}

/** Runs one batch on its host; whatever happens, says which results came back and how it ended. */
export async function runBatchOnHost(ctx: BatchContext, b: BatchOnHost): Promise<BatchReturn> {
  const { run, config, submissionId } = ctx;
  const { hostId, batchId: id, tests } = b;
  const uploadToken = await control.openJob({
    jobId: id,
    submissionId,
    name: `${run.name}#${b.batchNumber}`,
    attempt: 1,
    hostId,
    leaseId: b.token,
    setNumber: 0,
  });
  const scope = new CancellationScope();
  ctx.scopes.add(scope);
  const timeoutMs = batchTimeoutFor(run, tests.length);
  try {
    const report = await scope.run(() =>
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
        batchRunWorkflowId: ctx.workflowId,
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
    const host = report.end.kind;
    // Only a person's cancel is `cancelled`; anything else that stopped it is the host's business.
    const kind = host === 'cancelled' && ctx.stopped() === undefined ? 'host-lost' : host;
    return {
      results: report.results,
      end: {
        kind,
        reason: report.end.reason,
        ...(report.current !== undefined ? { current: report.current } : {}),
        progressKnown: true,
      },
      ...(report.hostShuttingDown ? { hostShuttingDown: true } : {}),
    };
  } catch (err) {
    return batchEndOfFailure(err, {
      hostId,
      jobName: `${run.name} batch ${id}`,
      batchId: id,
      stop: ctx.stopped(),
      phase: 'run',
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      pickupTimeoutMs: config.hostPickupTimeoutMs,
      phaseTimeoutMs: timeoutMs,
      now: Date.now(),
    });
  } finally {
    ctx.scopes.delete(scope);
  }
}
