/**
 * @module runChain: one host's part of a recipe set. It holds the host's lease from the
 * first job to the last, so nothing else runs in between, and runs the chain tree in its
 * deterministic order: for each job `provision`, `runTests`, `uploadResults` on the host's
 * own task queue. A failed or aborted job skips the jobs below it; other branches still
 * run. A lost host ends the chain. The lease is released (with the outcomes, so the
 * scheduler can count aborts) however the chain ends.
 *
 * The chain is pipelined to keep the host busy: while one job's results upload, the next
 * job is already opened and provisioned (if what is known so far lets it run); it starts
 * its runner only once the previous job's result is final.
 */
import {
  ActivityCancellationType,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation as isWorkflowCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';
import type { HostActivities } from '../activities/host/index.js';
import { ErrorType } from '../domain/errors.js';
import { CONTROL_TASK_QUEUE, hostTaskQueue, SCHEDULER_WORKFLOW_ID } from '../domain/ids.js';
import type { Job } from '../domain/job.js';
import type { JobRun, ProvisionResult, RunConfig, RunTestsResult } from '../domain/job-run.js';
import { AbortCause, summarize, type JobResult } from '../domain/outcome.js';
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

// Job records are written by regular (not local) activities on the control queue: a local
// activity would hold back every command of its workflow task (the next job's start).
const control = proxyActivities<ControlActivities>({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '30 seconds',
  // The result store may be restarting: keep trying, results must not be lost.
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

/** Time runTests gets beyond the job's timeoutMs to stop the runner and report. */
const RUN_DEADLINE_MARGIN_MS = 60_000;

type Stop = { kind: 'cancelled' | 'skipped'; reason: string };
type Attempt<T> = { ok: true; value: T } | { ok: false; result: JobResult };
/** A job opened and provisioned on the host, ready to run. */
type Prepared = { run: JobRun; provisioned: ProvisionResult };

export async function chainWorkflow(input: ChainInput): Promise<ChainResult> {
  const { hostId, config } = input;
  /** final results, by job id */
  const results: Record<string, JobResult> = {};
  /** what runTests said, before uploads: enough to prepare the next job early */
  const tentative: Record<string, JobResult> = {};
  const byName = new Map(input.jobs.map((j) => [j.name, j]));
  const background = new Set<Promise<unknown>>();
  const running = new Set<CancellationScope>();
  let stop: Stop | undefined;
  /** name of the job during which the host was lost */
  let lost: string | undefined;

  const requestStop = (s: Stop) => {
    stop ??= s;
    for (const scope of running) scope.cancel();
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
  const onHost = async <T>(phase: Phase, jobName: string, phaseTimeoutMs: number, fn: () => Promise<T>, cancellable = true): Promise<Attempt<T>> => {
    const scope = cancellable ? new CancellationScope() : undefined;
    if (scope) running.add(scope);
    try {
      return { ok: true, value: await (scope ? scope.run(fn) : CancellationScope.nonCancellable(fn)) };
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
      if (scope) running.delete(scope);
    }
  };

  /** Why the job must not run, given the results known so far; undefined when it may. */
  const blocked = (job: ChainJob, known: Record<string, JobResult>): JobResult | undefined => {
    if (job.preSkipped !== undefined) return { kind: 'skipped', reason: job.preSkipped };
    // A stop (cancel, partner stop) ends the whole chain with its own reason.
    if (stop) return { ...stop };
    const parent = job.chainParent === undefined ? undefined : byName.get(job.chainParent);
    const parentResult = parent ? known[parent.id] : undefined;
    if (parent && parentResult && parentResult.kind !== 'passed') {
      return { kind: 'skipped', reason: `parent \`${parent.name}\` ${parentResult.kind === 'skipped' ? 'was skipped' : parentResult.kind}` };
    }
    if (lost) return { kind: 'aborted', cause: AbortCause.HostLost, reason: `host ${hostId} was lost while running \`${lost}\`, before \`${job.name}\` could start` };
    return undefined;
  };

  /** Opens the job's record under the lease and provisions the host for it. */
  const prepare = async (job: ChainJob): Promise<Attempt<Prepared>> => {
    const run: JobRun = { jobId: job.id, jobName: job.name, submissionId: input.submissionId, hostId, attempt: input.attempt, leaseToken: input.leaseToken, ...job.spec };
    // The record (with the lease uploads must carry) and the host's work dir, side by side.
    const [, provisioned] = await Promise.all([
      CancellationScope.nonCancellable(() =>
        control.openJob({ jobId: job.id, submissionId: input.submissionId, name: job.name, attempt: input.attempt, hostId, leaseToken: input.leaseToken, setNumber: input.setNumber }),
      ),
      onHost('provision', job.name, run.provisionTimeoutMs, () => onHostQueue(run.provisionTimeoutMs).provision(run)),
    ]);
    return provisioned.ok ? { ok: true, value: { run, provisioned: provisioned.value } } : provisioned;
  };

  /** Runs the runner: its verdict, before uploads. */
  const execute = async ({ run, provisioned }: Prepared): Promise<{ result: JobResult; outcome?: RunTestsResult }> => {
    // runTests enforces timeoutMs itself (to stop the runner and say where it was); the
    // activity deadline is only a backstop.
    const ran = await onHost('run', run.jobName, run.timeoutMs, () => onHostQueue(run.timeoutMs + RUN_DEADLINE_MARGIN_MS).runTests({ run, provisioned }));
    if (!ran.ok) return { result: ran.result };
    const result = ran.value.result.kind === 'cancelled' && stop ? { ...stop } : ran.value.result;
    return { result, outcome: ran.value };
  };

  /** Uploads results (logs and artifacts matter most when a job failed or was stopped). */
  const uploadAll = async ({ run, provisioned }: Prepared, ran: { result: JobResult; outcome?: RunTestsResult }): Promise<JobResult> => {
    if (isHostLost(ran.result)) return ran.result;
    const uploaded = await onHost('upload', run.jobName, config.uploadTimeoutMs, () => upload({ run, provisioned, ...(ran.outcome ? { outcome: ran.outcome } : {}) }), false);
    if (uploaded.ok) return ran.result;
    if (ran.result.kind === 'passed') return uploaded.result;
    log.warn('upload failed after the job ended', { job: run.jobName, result: uploaded.result });
    return ran.result;
  };

  /** Records a job's final result: in the store (sealing it), for the recipe set, for the chain. */
  const settle = (job: ChainJob, result: JobResult, opened: boolean) => {
    results[job.id] = result;
    if (isHostLost(result)) lost ??= job.name;
    const later = async () => {
      if (opened) await CancellationScope.nonCancellable(() => control.finishJob({ jobId: job.id, leaseToken: input.leaseToken, result }));
      if (input.reportFaultsTo && (result.kind === 'failed' || result.kind === 'aborted')) {
        await getExternalWorkflowHandle(input.reportFaultsTo)
          .signal(chainFaultSignal, { hostId, jobName: job.name, result })
          .catch((err: unknown) => log.warn('could not report a fault to the recipe set', { error: String(err) }));
      }
    };
    const p = later();
    background.add(p);
    void p.finally(() => background.delete(p));
  };

  try {
    /** the job whose uploads are under way, and its final result once they are done */
    let uploading: { job: ChainJob; final: Promise<JobResult> } | undefined;
    for (const job of input.jobs) {
      // Prepare early on what is known so far; decide on the final results.
      const early = blocked(job, { ...results, ...tentative }) === undefined ? prepare(job) : undefined;
      if (uploading) settle(uploading.job, await uploading.final, true);
      uploading = undefined;
      const prepared = early ? await early : undefined;
      const block = blocked(job, results);
      if (block) {
        settle(job, block, prepared !== undefined);
        continue;
      }
      const ready = prepared ?? (await prepare(job));
      if (!ready.ok) {
        settle(job, ready.result, true);
        continue;
      }
      const ran = await execute(ready.value);
      tentative[job.id] = ran.result;
      if (isHostLost(ran.result)) lost ??= job.name;
      uploading = { job, final: uploadAll(ready.value, ran) };
    }
    if (uploading) settle(uploading.job, await uploading.final, true);
  } finally {
    await CancellationScope.nonCancellable(async () => {
      await Promise.all([...background]);
      const outcomes = input.jobs.flatMap((j) => (results[j.id] ? [{ jobId: j.id, result: results[j.id]! }] : []));
      await getExternalWorkflowHandle(SCHEDULER_WORKFLOW_ID).signal(releaseLeaseSignal, { hostId, token: input.leaseToken, outcomes });
    });
  }
  upsertSearchAttributes([{ key: ResultKey, value: summarize(Object.values(results)) }]);
  return { results, hostLost: lost !== undefined };
}
