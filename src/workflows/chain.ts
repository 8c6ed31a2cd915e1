/**
 * @module runChain: one host's part of a recipe set. It holds the host's lease from the
 * first job to the last, so nothing else runs in between, and runs the chain tree in its
 * deterministic order: for each job `provision`, `runTests`, `uploadResults` on the host's
 * own task queue. A failed or aborted job skips the jobs below it; other branches still
 * run. A lost host ends the chain. The lease is released (with the outcomes, so the
 * scheduler can count aborts) however the chain ends.
 */
import {
  ActivityCancellationType,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation as isWorkflowCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  log,
} from '@temporalio/workflow';
import type { HostActivities } from '../activities/host/index.js';
import type { ControlActivities } from '../activities/control/index.js';
import { hostTaskQueue, SCHEDULER_WORKFLOW_ID } from '../domain/ids.js';
import type { Job } from '../domain/job.js';
import type { JobRun, RunConfig } from '../domain/job-run.js';
import { AbortCause, summarize, type JobResult } from '../domain/outcome.js';
import { ErrorType } from '../domain/errors.js';
import { chainFaultSignal, partnerStopSignal } from './chain-messages.js';
import { isHostLost, resultOfFailure, type Phase } from './failures.js';
import { cancelSignal } from './messages.js';
import { releaseLeaseSignal } from './scheduler-messages.js';
import { ResultKey } from './search-attributes.js';

export type JobRunSpec = Pick<Job, 'runner' | 'settings' | 'timeoutMs' | 'provisionTimeoutMs' | 'assets' | 'tests'>;

export interface ChainJob {
  id: string;
  name: string;
  /** name of the job this one runs directly after */
  chainParent?: string;
  /** set when the job must not run (a startAfter parent did not pass) */
  preSkipped?: string;
  spec: JobRunSpec;
}

export interface ChainInput {
  submissionId: string;
  setNumber: number;
  attempt: number;
  hostId: string;
  leaseToken: string;
  /** in run order: parents before children */
  jobs: ChainJob[];
  config: RunConfig;
  /** workflow id of the recipe set to tell about failed or aborted jobs (parallel sets) */
  reportFaultsTo?: string;
}

export interface ChainResult {
  /** by job id */
  results: Record<string, JobResult>;
  hostLost: boolean;
}

const control = proxyLocalActivities<ControlActivities>({
  startToCloseTimeout: '30 seconds',
  // The result store may be restarting: keep trying, results must not be lost.
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

/** Time runTests gets beyond the job's timeoutMs to stop the runner and report. */
const RUN_DEADLINE_MARGIN_MS = 60_000;

type Stop = { kind: 'cancelled' | 'skipped'; reason: string };

export async function chainWorkflow(input: ChainInput): Promise<ChainResult> {
  const { hostId, config } = input;
  const results: Record<string, JobResult> = {};
  const byName = new Map(input.jobs.map((j) => [j.name, j]));
  let stop: Stop | undefined;
  /** name of the job during which the host was lost */
  let lost: string | undefined;
  let running: CancellationScope | undefined;

  const requestStop = (s: Stop) => {
    stop ??= s;
    running?.cancel();
  };
  setHandler(cancelSignal, (req) => requestStop({ kind: 'cancelled', reason: req.reason ?? 'cancelled' }));
  setHandler(partnerStopSignal, ({ reason }) => requestStop({ kind: 'skipped', reason }));

  /** Host activities with the phase's own deadline. */
  const onHostQueue = (startToCloseTimeoutMs: number) =>
    proxyActivities<HostActivities>({
      taskQueue: hostTaskQueue(hostId),
      // A dead host's queue never starts the task: give up and try another host.
      scheduleToStartTimeout: config.hostPickupTimeoutMs,
      heartbeatTimeout: config.heartbeatTimeoutMs,
      startToCloseTimeout: startToCloseTimeoutMs,
      // Host-level failures go back to this workflow, which re-schedules on another host.
      retry: { maximumAttempts: 1 },
      // Report a stopped job only once its runner's process group is really gone.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    });

  const upload = proxyActivities<HostActivities>({
    taskQueue: hostTaskQueue(hostId),
    scheduleToStartTimeout: config.hostPickupTimeoutMs,
    heartbeatTimeout: config.heartbeatTimeoutMs,
    startToCloseTimeout: config.uploadTimeoutMs,
    // A network blip while uploading is retried here, on the same host.
    retry: { maximumAttempts: 4, initialInterval: '1 second', nonRetryableErrorTypes: [ErrorType.LeaseRevoked] },
  }).uploadResults;

  /** Runs one host activity, cancellable by a stop; a failure becomes a job result. */
  const onHost = async <T>(phase: Phase, jobName: string, phaseTimeoutMs: number, fn: () => Promise<T>): Promise<Attempt<T>> => {
    const scope = new CancellationScope();
    running = scope;
    try {
      return { ok: true, value: await scope.run(fn) };
    } catch (err) {
      if (isWorkflowCancellation(err) && !stop) requestStop({ kind: 'cancelled', reason: 'cancelled' });
      const result = resultOfFailure(err, {
        hostId,
        jobName,
        phase,
        heartbeatTimeoutMs: config.heartbeatTimeoutMs,
        pickupTimeoutMs: config.hostPickupTimeoutMs,
        phaseTimeoutMs,
        now: Date.now(),
      });
      return { ok: false, result: result.kind === 'cancelled' && stop ? { ...stop } : result };
    } finally {
      running = undefined;
    }
  };

  const runJob = async (job: ChainJob): Promise<JobResult> => {
    const parent = job.chainParent === undefined ? undefined : byName.get(job.chainParent);
    const parentResult = parent ? results[parent.id] : undefined;
    if (job.preSkipped !== undefined) return { kind: 'skipped', reason: job.preSkipped };
    // A stop (cancel, partner stop) ends the whole chain with its own reason.
    if (stop) return { ...stop };
    if (parent && parentResult && parentResult.kind !== 'passed') {
      return { kind: 'skipped', reason: `parent \`${parent.name}\` ${parentResult.kind === 'skipped' ? 'was skipped' : parentResult.kind}` };
    }
    if (lost) {
      return { kind: 'aborted', cause: AbortCause.HostLost, reason: `host ${hostId} was lost while running \`${lost}\`, before \`${job.name}\` could start` };
    }

    const run: JobRun = {
      jobId: job.id,
      jobName: job.name,
      submissionId: input.submissionId,
      hostId,
      attempt: input.attempt,
      leaseToken: input.leaseToken,
      ...job.spec,
    };
    await CancellationScope.nonCancellable(() =>
      control.openJob({ jobId: job.id, submissionId: input.submissionId, name: job.name, attempt: input.attempt, hostId, leaseToken: input.leaseToken, setNumber: input.setNumber }),
    );
    const result = await provisionRunUpload(run);
    if (isHostLost(result)) lost = job.name;
    await CancellationScope.nonCancellable(() => control.finishJob({ jobId: job.id, leaseToken: input.leaseToken, result }));
    if (input.reportFaultsTo && (result.kind === 'failed' || result.kind === 'aborted')) {
      await getExternalWorkflowHandle(input.reportFaultsTo)
        .signal(chainFaultSignal, { hostId, jobName: job.name, result })
        .catch((err: unknown) => log.warn('could not report a fault to the recipe set', { error: String(err) }));
    }
    return result;
  };

  const provisionRunUpload = async (run: JobRun): Promise<JobResult> => {
    const provisioned = await onHost('provision', run.jobName, run.provisionTimeoutMs, () => onHostQueue(run.provisionTimeoutMs).provision(run));
    if (!provisioned.ok) return provisioned.result;
    const ran = await onHost('run', run.jobName, run.timeoutMs, // runTests enforces timeoutMs itself (to stop the runner and say where it was);
    // the activity deadline is only a backstop.
    () => onHostQueue(run.timeoutMs + RUN_DEADLINE_MARGIN_MS).runTests({ run, provisioned: provisioned.value }));
    let result: JobResult = ran.ok ? ran.value.result : ran.result;
    if (ran.ok && result.kind === 'cancelled' && stop) result = { ...stop };
    if (isHostLost(result)) return result;
    // Logs and artifacts matter most when a job failed or was stopped: upload them anyway.
    const uploaded = await CancellationScope.nonCancellable(() =>
      onHost('upload', run.jobName, config.uploadTimeoutMs, () =>
        upload({ run, provisioned: provisioned.value, ...(ran.ok ? { outcome: ran.value } : {}) }),
      ),
    );
    if (!uploaded.ok) {
      if (result.kind === 'passed') return uploaded.result;
      log.warn('upload failed after the job ended', { job: run.jobName, result: uploaded.result });
    }
    return result;
  };

  try {
    for (const job of input.jobs) {
      results[job.id] = await runJob(job);
    }
  } finally {
    await CancellationScope.nonCancellable(async () => {
      const outcomes = input.jobs.flatMap((j) => (results[j.id] ? [{ jobId: j.id, result: results[j.id]! }] : []));
      await getExternalWorkflowHandle(SCHEDULER_WORKFLOW_ID).signal(releaseLeaseSignal, { hostId, token: input.leaseToken, outcomes });
    });
  }
  upsertSearchAttributes([{ key: ResultKey, value: summarize(Object.values(results)) }]);
  return { results, hostLost: lost !== undefined };
}

type Attempt<T> = { ok: true; value: T } | { ok: false; result: JobResult };
