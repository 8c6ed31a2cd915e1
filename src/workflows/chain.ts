/**
 * @module chainWorkflow: one host's part of a recipe set. It holds the host's lease from the
 * first job to the last, so nothing else runs in between, and runs the chain tree in its
 * deterministic order: for each job `provision`, `runTests`, `uploadResults` on the host's
 * own task queue. A failed or aborted job skips the jobs below it; other branches still
 * run. A lost host ends the chain. The lease is released (with the outcomes, so the
 * scheduler can count aborts) however the chain ends.
 *
 * The chain is pipelined to keep the host busy: while one job's results upload, the next
 * job is already opened and provisioned (if what is known so far lets it run); it starts
 * its runner only once the previous job's result is final.
 *
 * What may run and what a stopped job ends as are decided in domain/chain.ts; final results
 * go to the store in batches (result-batching.ts).
 */
import { CancellationScope, getExternalWorkflowHandle, isCancellation as isWorkflowCancellation, log, patched, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import {
  afterFailedUpload,
  blocked,
  childrenToStop,
  lostBefore,
  needsProvision,
  needsUpload,
  parentOf,
  PREPARE_AHEAD,
  queuedBehindLoss,
  RUNS_QUEUED,
  runDeadlineMs,
  skippedBelow,
  stoppedAs,
  type ChainState,
  type ChainStop,
} from '../domain/chain.js';
import type { Job } from '../domain/job.js';
import type { JobRun, ProvisionResult, RunConfig, RunTestsResult } from '../domain/job-run.js';
import { needsRecovery, summarize, type JobResult } from '../domain/outcome.js';
import type { Recovery } from '../domain/lab.js';
import type { Partner } from '../domain/partners.js';
import { RESERVE_DEFAULTS, reservationDue, type ReserveSpec } from '../domain/reservation.js';
import { reservationHolder } from './reservation-hold.js';
import { control, hostActivities, recoverOnHost } from './chain-activities.js';
import { chainFaultSignal, partnerStopSignal } from './chain-messages.js';
import { isHostLost, resultOfFailure, type Phase } from './failures.js';
import { cancelSignal } from './messages.js';
import { releaseLease } from './lease-client.js';
import { resultBatching } from './result-batching.js';
import { ResultKey } from './search-attributes.js';
import { Pending, signalIfRunning } from './signal.js';

export type JobRunSpec = Pick<Job, 'runner' | 'settings' | 'secrets' | 'timeoutMs' | 'provisionTimeoutMs' | 'outputTimeoutMs' | 'assets' | 'tests'>;

export interface ChainJob {
  id: string;
  name: string;
  /** name of the job this one runs directly after */
  chainParent?: string;
  /** set when the job must not run (a startAfter parent did not pass) */
  preSkipped?: string;
  /** TESTBAY_ROLE; absent: its name */
  role?: string;
  /** keep the host for a person after this job, when its result says so */
  reserve?: ReserveSpec;
  spec: JobRunSpec;
}

export interface ChainInput {
  submissionId: string;
  setNumber: number;
  attempt: number;
  hostId: string;
  /** the scheduler's lease on the host: its records are opened, finished and released under it */
  leaseId: string;
  /** in run order: parents before children */
  jobs: ChainJob[];
  config: RunConfig;
  /** workflow id of the recipe set to tell about failed or aborted jobs (parallel sets) */
  reportFaultsTo?: string;
  /** the pool whose scheduler granted the lease; absent = `default` */
  pool?: string;
  /** every job of the recipe set, where it runs (TESTBAY_PARTNERS); absent in chains started before partners */
  partners?: Record<string, Partner>;
  /** who submitted the jobs: a reservation after them is theirs */
  submittedBy?: string;
}

/** The chain holds its lease for a reservation after its jobs (new commands: old histories replay without). */
const RESERVE_PATCH = 'chain-reserve';

export interface ChainResult {
  /** by job id */
  results: Record<string, JobResult>;
  hostLost: boolean;
}

/** Chains started before deadline extensions gave the run activity no room for them. */
const EXTENDABLE_PATCH = 'chain-run-extendable';
/** Chains started before recovery hooks never ran recoverHost. */
const RECOVER_PATCH = 'chain-recover-after-abort';

type Attempt<T> = { ok: true; value: T } | { ok: false; result: JobResult };
/** A job opened and provisioned on the host, ready to run (provisioned by runTests itself if absent). */
type Prepared = { run: JobRun; provisioned?: ProvisionResult };

export async function chainWorkflow(input: ChainInput): Promise<ChainResult> {
  const { hostId, config } = input;
  /** final results, by job id */
  const results: Record<string, JobResult> = {};
  /** what runTests said, before uploads: enough to prepare the next job early */
  const tentative: Record<string, JobResult> = {};
  /** the stop and the lost host: what the domain's decisions need besides the results */
  const state: ChainState = { hostId, byName: new Map(input.jobs.map((j) => [j.name, j])) };
  /** records being written and faults being reported: settled before the lease goes back */
  const background = new Pending();

  /** Cancellable host activities by job id: a stop cancels them all, a failed parent one. */
  const scopes = new Map<string, Set<CancellationScope>>();
  /** What a job stopped on purpose ends as, instead of `cancelled`. */
  const overrides = new Map<string, JobResult>();
  const cancelJob = (jobId: string, as: JobResult) => {
    if (!overrides.has(jobId)) overrides.set(jobId, as);
    for (const scope of scopes.get(jobId) ?? []) scope.cancel();
  };
  const requestStop = (s: ChainStop) => {
    state.stop ??= s;
    for (const set of scopes.values()) for (const scope of set) scope.cancel();
  };
  /** a reservation after the jobs: held in a timer, ended by time, a release or a cancel */
  const reservation = reservationHolder();
  setHandler(cancelSignal, (req) => {
    requestStop({ kind: 'cancelled', reason: req.reason ?? 'cancelled' });
    reservation.end(req.reason ?? 'cancelled');
  });
  setHandler(partnerStopSignal, ({ reason }) => requestStop({ kind: 'skipped', reason }));

  const { onHostQueue, upload } = hostActivities(hostId, config);

  /** Runs one host activity for a job, cancellable by a stop; a failure becomes a job result. */
  const onHost = async <T>(phase: Phase, job: ChainJob, phaseTimeoutMs: number, fn: () => Promise<T>, cancellable = true): Promise<Attempt<T>> => {
    const scope = cancellable ? new CancellationScope() : undefined;
    if (scope) scopes.set(job.id, new Set([...(scopes.get(job.id) ?? []), scope]));
    try {
      return { ok: true, value: await (scope ? scope.run(fn) : CancellationScope.nonCancellable(fn)) };
    } catch (err) {
      if (isWorkflowCancellation(err) && !state.stop && !overrides.has(job.id)) requestStop({ kind: 'cancelled', reason: 'cancelled' });
      const result = resultOfFailure(err, {
        hostId,
        jobName: job.name,
        phase,
        heartbeatTimeoutMs: config.heartbeatTimeoutMs,
        pickupTimeoutMs: config.hostPickupTimeoutMs,
        phaseTimeoutMs,
        now: Date.now(),
      });
      return { ok: false, result: result.kind === 'cancelled' ? stopped(job) ?? result : result };
    } finally {
      if (scope) scopes.get(job.id)?.delete(scope);
    }
  };

  /** The result a job cancelled on purpose ends with. */
  const stopped = (job: ChainJob): JobResult | undefined => stoppedAs(state, overrides.get(job.id));

  // Every job of the chain is opened at once, under this lease: the records (with the upload
  // token the host must carry, sealed) exist before any job uploads, at the cost of one activity.
  const toOpen = input.jobs.filter((j) => j.preSkipped === undefined);
  const opening = CancellationScope.nonCancellable(() =>
    control.openJobs(toOpen.map((j) => ({ jobId: j.id, submissionId: input.submissionId, name: j.name, attempt: input.attempt, hostId, leaseId: input.leaseId, setNumber: input.setNumber }))),
  );
  background.add(opening);

  /** Provisions the host for the job once its record is open. */
  /** every job's run as the host got it: a reservation's hooks get the same environment */
  const runs = new Map<string, JobRun>();
  const prepare = async (job: ChainJob): Promise<Attempt<Prepared>> => {
    const uploadTokens = await opening;
    const run: JobRun = { jobId: job.id, jobName: job.name, submissionId: input.submissionId, hostId, attempt: input.attempt, leaseToken: uploadTokens[job.id]!, ...job.spec };
    if (input.partners) Object.assign(run, { partners: input.partners, role: job.role ?? job.name });
    runs.set(job.id, run);
    // Nothing to fetch (no assets, no test code): runTests makes the job's dirs itself.
    if (!needsProvision(run)) return { ok: true, value: { run } };
    const provisioned = await onHost('provision', job, run.provisionTimeoutMs, () => onHostQueue(run.provisionTimeoutMs).provision(run));
    return provisioned.ok ? { ok: true, value: { run, provisioned: provisioned.value } } : provisioned;
  };

  /** Runs the runner (after `after`'s on the host): its verdict, before uploads. */
  const execute = async (job: ChainJob, { run, provisioned }: Prepared, after?: { job: ChainJob; requirePass: boolean }): Promise<{ result: JobResult; outcome?: RunTestsResult }> => {
    // runTests enforces timeoutMs itself (to stop the runner and say where it was); the
    // activity deadline is only a backstop, and includes the wait for the previous run.
    // A job may be extended while it runs, up to the lab's cap: the backstop allows for it.
    const deadline = runDeadlineMs(run.timeoutMs, after?.job.spec.timeoutMs) + (config.maxExtendMs !== undefined && patched(EXTENDABLE_PATCH) ? config.maxExtendMs : 0);
    const ran = await onHost('run', job, run.timeoutMs, () =>
      onHostQueue(deadline).runTests({ run, ...(provisioned ? { provisioned } : {}), ...(after ? { after: { jobId: after.job.id, jobName: after.job.name, requirePass: after.requirePass } } : {}) }),
    );
    if (!ran.ok) return { result: ran.result };
    // A job stopped on purpose ends as the stop says, even if the host had already skipped it
    // (its parent, stopped by the same stop, did not pass).
    const stoppedAs = ran.value.result.kind === 'cancelled' || ran.value.notStarted ? stopped(job) : undefined;
    const result = stoppedAs ?? ran.value.result;
    return { result, outcome: ran.value };
  };

  /** Uploads results (logs and artifacts matter most when a job failed or was stopped). */
  const uploadAll = async (job: ChainJob, prepared: Prepared, ran: { result: JobResult; outcome?: RunTestsResult }): Promise<JobResult> => {
    const { run } = prepared;
    const provisioned = prepared.provisioned ?? ran.outcome?.provisioned;
    const pending = { result: ran.result, provisioned: provisioned !== undefined, notStarted: ran.outcome?.notStarted, uploaded: ran.outcome?.uploaded };
    if (!provisioned || !needsUpload(pending, isHostLost)) return ran.result;
    const uploaded = await onHost('upload', job, config.uploadTimeoutMs, () => upload({ run, provisioned, ...(ran.outcome ? { outcome: ran.outcome } : {}) }), false);
    if (uploaded.ok) return ran.result;
    const final = afterFailedUpload(ran.result, uploaded.result);
    if (final.warn) log.warn('upload failed after the job ended', { job: run.jobName, result: uploaded.result });
    return final.result;
  };

  /**
   * After an infrastructure abort the host runs its recoverCommand (if it has one) while
   * this chain still holds its lease, so it takes no other job first. Not after the host was lost.
   */
  const recover = async (outcomes: { jobId: string; result: JobResult }[]): Promise<Recovery | undefined> => {
    const aborted = outcomes.find((o) => needsRecovery(o.result));
    if (!aborted || state.lost !== undefined || !patched(RECOVER_PATCH)) return undefined;
    const { result } = aborted;
    if (result.kind !== 'aborted') return undefined;
    return recoverOnHost(hostId, config, { jobId: aborted.jobId, cause: result.cause, reason: result.reason });
  };

  /** Final results go to the store in batches: whatever ended while the last batch was on its way. */
  const finish = resultBatching((batch: { jobId: string; leaseId: string; result: JobResult }[]) => control.finishJobs(batch), opening, background);

  /** Records a job's final result: in the store (sealing it), for the recipe set, for the chain. */
  const settle = (job: ChainJob, result: JobResult) => {
    results[job.id] = result;
    if (isHostLost(result)) state.lost ??= job.name;
    if (job.preSkipped === undefined) finish({ jobId: job.id, leaseId: input.leaseId, result });
    if (input.reportFaultsTo && (result.kind === 'failed' || result.kind === 'aborted')) {
      background.add(signalIfRunning(getExternalWorkflowHandle(input.reportFaultsTo), chainFaultSignal, { hostId, jobName: job.name, result }));
    }
  };

  /** A job's run ended (tentative) and then its uploads (final): what follows from each. */
  const follow = (job: ChainJob, prepared: Prepared, ran: Promise<{ result: JobResult; outcome?: RunTestsResult }>) =>
    ran.then(async (r) => {
      tentative[job.id] = r.result;
      if (isHostLost(r.result)) {
        state.lost ??= job.name;
        // Whatever is queued behind it on that host will never run there.
        for (const later of queuedBehindLoss(input.jobs, job, results)) cancelJob(later.id, lostBefore(hostId, state.lost, later));
      }
      const final = await uploadAll(job, prepared, r);
      // Its child started on the runner's verdict; the uploads then failed: stop the child.
      for (const child of childrenToStop(input.jobs, job, r.result, final)) cancelJob(child.id, skippedBelow(job, final));
      settle(job, final);
      return final;
    });

  /** Prepared (or preparing) jobs: the next few are provisioned ahead, so none waits for it. */
  const preparing = new Map<string, Promise<Attempt<Prepared>>>();
  const prepareAhead = (job: ChainJob | undefined) => {
    if (!job || preparing.has(job.id) || blocked(state, job, { ...results, ...tentative })) return;
    preparing.set(job.id, prepare(job));
  };

  const holdFor = async (due: NonNullable<ReturnType<typeof reservationDue>>) => {
    const run = runs.get(due.jobId);
    const end = await reservation.hold({
      pool: input.pool,
      hostId,
      token: input.leaseId,
      config,
      durationMs: due.durationMs,
      sshKeys: due.sshKeys,
      ...(run ? { run } : {}),
      shown: {
        kind: 'job',
        by: input.submittedBy ?? 'its submitter',
        why: due.why,
        capMs: config.maxReserveMs ?? RESERVE_DEFAULTS.maxReserveMs,
        holder: workflowInfo().workflowId,
        hostId,
        jobId: due.jobId,
        submissionId: input.submissionId,
        address: input.partners ? (Object.values(input.partners).find((p) => p.hostId === hostId)?.address ?? hostId) : hostId,
        hostname: input.partners ? (Object.values(input.partners).find((p) => p.hostId === hostId)?.hostname ?? hostId) : hostId,
      },
    });
    log.info('the reserved host goes back to the pool', { hostId, job: due.jobName, end });
  };

  try {
    /** the job whose run was queued last on the host: the next waits for it there */
    let previous: ChainJob | undefined;
    const finals = new Map<string, Promise<JobResult>>();
    /** runs queued on the host, in order: at most RUNS_QUEUED wait behind the one running */
    const runs: Promise<unknown>[] = [];
    for (const [i, job] of input.jobs.entries()) {
      const parent = parentOf(state, job);
      // The previous job's verdict is left to the host (it starts this one the moment that
      // runner passed); any other parent's final result is awaited.
      if (parent && parent !== previous) await finals.get(parent.id);
      const known = { ...results, ...tentative };
      const early = blocked(state, job, known);
      if (early) {
        // Provisioned ahead for nothing: let that finish before the job's record is.
        if (preparing.has(job.id)) await preparing.get(job.id);
        settle(job, early);
        continue;
      }
      // Provisioned while the previous jobs still run.
      prepareAhead(job);
      for (let ahead = 1; ahead <= PREPARE_AHEAD; ahead++) prepareAhead(input.jobs[i + ahead]);
      const ready = await (preparing.get(job.id) ?? prepare(job));
      if (!ready.ok) {
        settle(job, stopped(job) ?? ready.result);
        continue;
      }
      const late = blocked(state, job, { ...results, ...tentative }) ?? overrides.get(job.id);
      if (late) {
        settle(job, late);
        continue;
      }
      // A few runs wait on the host (each holds one of its activity slots), so the host starts
      // the next runner the moment one ends, however busy this workflow is.
      await runs.at(-1 - RUNS_QUEUED);
      const after = previous ? { job: previous, requirePass: parent === previous } : undefined;
      const ran = execute(job, ready.value, after);
      runs.push(ran);
      finals.set(job.id, follow(job, ready.value, ran));
      previous = job;
    }
    await Promise.all(finals.values());
  } finally {
    await CancellationScope.nonCancellable(async () => {
      try {
        await background.drain();
      } finally {
        const outcomes = input.jobs.flatMap((j) => (results[j.id] ? [{ jobId: j.id, job: j.name, result: results[j.id]! }] : []));
        // A job whose result its `reserve` asks for keeps the host for a person first.
        const due = state.lost === undefined ? reservationDue(input.jobs, results, state.stop?.kind === 'cancelled') : undefined;
        if (due && patched(RESERVE_PATCH)) await holdFor(due);
        const recovery = await recover(outcomes);
        // Awaited: a workflow that ends with the signal still outstanding never sends it.
        await releaseLease(input.pool, hostId, input.leaseId, outcomes, recovery);
      }
    });
  }
  upsertSearchAttributes([{ key: ResultKey, value: summarize(Object.values(results)) }]);
  return { results, hostLost: state.lost !== undefined };
}
