/**
 * @module jobSteps: one job's steps on the chain's host, each a host activity on the host's
 * own task queue that a stop cancels (chain-stops.ts): `prepare` (the job's run as the host
 * gets it, provisioned unless there is nothing to fetch), `execute` (the runner, after the
 * previous job's on the host: its verdict) and `uploadAll` (logs and artifacts, which no
 * stop cancels). What a failed step ends as is decided in domain/chain.ts.
 */
import { log, patched } from '@temporalio/workflow';
import { afterFailedUpload, needsProvision, needsUpload, runDeadlineMs, type ChainJob } from '../domain/chain.js';
import type { JobRun, ProvisionResult, RunConfig, RunTestsResult } from '../domain/job-run.js';
import type { JobResult } from '../domain/outcome.js';
import type { Partner } from '../domain/partners.js';
import { hostActivities } from './chain-activities.js';
import type { Attempt, ChainStops } from './chain-stops.js';
import { isHostLost } from './failures.js';

/** Chains started before deadline extensions gave the run activity no room for them. */
const EXTENDABLE_PATCH = 'chain-run-extendable';

/** A job opened and provisioned on the host, ready to run (provisioned by runTests itself if absent). */
export type Prepared = { run: JobRun; provisioned?: ProvisionResult };

/** A job's verdict before uploads, with what runTests said (absent when the activity failed). */
export type Ran = { result: JobResult; outcome?: RunTestsResult };

/** What the steps need of the chain's input. */
export interface JobStepsInput {
  submissionId: string;
  attempt: number;
  hostId: string;
  config: RunConfig;
  partners?: Record<string, Partner>;
}

/** The steps of the chain's jobs; `opening` resolves to every opened job's upload token, by job id. */
export function jobSteps(
  input: JobStepsInput,
  opening: Promise<Record<string, string>>,
  { onHost, stopped }: ChainStops,
) {
  const { hostId, config } = input;
  const { onHostQueue, upload } = hostActivities(hostId, config);

  /** every job's run as the host got it: a reservation's hooks get the same environment */
  const runs = new Map<string, JobRun>();

  /** Provisions the host for the job once its record is open. */
  const prepare = async (job: ChainJob): Promise<Attempt<Prepared>> => {
    const uploadTokens = await opening;
    const run: JobRun = {
      jobId: job.id,
      jobName: job.name,
      submissionId: input.submissionId,
      hostId,
      attempt: input.attempt,
      leaseToken: uploadTokens[job.id]!,
      ...job.spec,
    };
    if (input.partners) Object.assign(run, { partners: input.partners, role: job.role ?? job.name });
    runs.set(job.id, run);
    // Nothing to fetch (no assets, no test code): runTests makes the job's dirs itself.
    if (!needsProvision(run)) return { ok: true, value: { run } };
    const provisioned = await onHost('provision', job, run.provisionTimeoutMs, () =>
      onHostQueue(run.provisionTimeoutMs).provision(run),
    );
    return provisioned.ok ? { ok: true, value: { run, provisioned: provisioned.value } } : provisioned;
  };

  /** Runs the runner (after `after`'s on the host): its verdict, before uploads. */
  const execute = async (
    job: ChainJob,
    { run, provisioned }: Prepared,
    after?: { job: ChainJob; requirePass: boolean },
  ): Promise<Ran> => {
    // runTests enforces timeoutMs itself (to stop the runner and say where it was); the
    // activity deadline is only a backstop, and includes the wait for the previous run.
    // A job may be extended while it runs, up to the lab's cap: the backstop allows for it.
    const deadline =
      runDeadlineMs(run.timeoutMs, after?.job.spec.timeoutMs) +
      (config.maxExtendMs !== undefined && patched(EXTENDABLE_PATCH) ? config.maxExtendMs : 0);
    const ran = await onHost('run', job, run.timeoutMs, () =>
      onHostQueue(deadline).runTests({
        run,
        ...(provisioned ? { provisioned } : {}),
        ...(after ? { after: { jobId: after.job.id, jobName: after.job.name, requirePass: after.requirePass } } : {}),
      }),
    );
    if (!ran.ok) return { result: ran.result };
    // A job stopped on purpose ends as the stop says, even if the host had already skipped it
    // (its parent, stopped by the same stop, did not pass).
    const stoppedAs = ran.value.result.kind === 'cancelled' || ran.value.notStarted ? stopped(job) : undefined;
    const result = stoppedAs ?? ran.value.result;
    return { result, outcome: ran.value };
  };

  /** Uploads results (logs and artifacts matter most when a job failed or was stopped). */
  const uploadAll = async (job: ChainJob, prepared: Prepared, ran: Ran): Promise<JobResult> => {
    const { run } = prepared;
    const provisioned = prepared.provisioned ?? ran.outcome?.provisioned;
    const pending = {
      result: ran.result,
      provisioned: provisioned !== undefined,
      notStarted: ran.outcome?.notStarted,
      uploaded: ran.outcome?.uploaded,
    };
    if (!provisioned || !needsUpload(pending, isHostLost)) return ran.result;
    const uploaded = await onHost(
      'upload',
      job,
      config.uploadTimeoutMs,
      () => upload({ run, provisioned, ...(ran.outcome ? { outcome: ran.outcome } : {}) }),
      false,
    );
    if (uploaded.ok) return ran.result;
    const final = afterFailedUpload(ran.result, uploaded.result);
    if (final.warn) log.warn('upload failed after the job ended', { job: run.jobName, result: uploaded.result });
    return final.result;
  };

  /** The job's run as the host got it, once it was prepared. */
  const runOf = (jobId: string): JobRun | undefined => runs.get(jobId);

  return { prepare, execute, uploadAll, runOf };
}
