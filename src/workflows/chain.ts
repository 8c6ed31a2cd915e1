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
 * What may run and what a stopped job ends as are decided in domain/chain.ts; a job's steps
 * on the host are in chain-job-steps.ts, its stops in chain-stops.ts, what the chain does
 * with the host after its jobs in chain-end.ts; final results go to the store in batches
 * (result-batching.ts).
 */
import { CancellationScope, getExternalWorkflowHandle, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import {
  blocked,
  childrenToStop,
  lostBefore,
  parentOf,
  PREPARE_AHEAD,
  queuedBehindLoss,
  RUNS_QUEUED,
  skippedBelow,
  type ChainJob,
  type ChainState,
} from '../domain/chain.js';
import type { RunConfig } from '../domain/job-run.js';
import { summarize, type JobResult } from '../domain/outcome.js';
import type { Partner } from '../domain/partners.js';
import { control } from './chain-activities.js';
import { endChain } from './chain-end.js';
import { jobSteps, type Prepared, type Ran } from './chain-job-steps.js';
import { chainFaultSignal, partnerStopSignal } from './chain-messages.js';
import { chainStops, type Attempt } from './chain-stops.js';
import { isHostLost } from './failures.js';
import { cancelSignal } from './messages.js';
import { reservationHolder } from './reservation-hold.js';
import { resultBatching } from './result-batching.js';
import { ResultKey } from './search-attributes.js';
import { Pending, signalIfRunning } from './signal.js';

export type { ChainJob, JobRunSpec } from '../domain/chain.js';

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

export interface ChainResult {
  /** by job id */
  results: Record<string, JobResult>;
  hostLost: boolean;
}

export async function chainWorkflow(input: ChainInput): Promise<ChainResult> {
  const { hostId } = input;
  /** final results, by job id */
  const results: Record<string, JobResult> = {};
  /** what runTests said, before uploads: enough to prepare the next job early */
  const tentative: Record<string, JobResult> = {};
  /** the stop and the lost host: what the domain's decisions need besides the results */
  const state: ChainState = { hostId, byName: new Map(input.jobs.map((j) => [j.name, j])) };
  /** records being written and faults being reported: settled before the lease goes back */
  const background = new Pending();

  /** Stops of the whole chain (a cancel, a partner's stop) or of one job (a failed parent, a lost host). */
  const stops = chainStops(state, input.config);
  const { cancelJob, requestStop, stopped, overrideOf } = stops;
  /** a reservation after the jobs: held in a timer, ended by time, a release or a cancel */
  const reservation = reservationHolder();
  setHandler(cancelSignal, (req) => {
    requestStop({ kind: 'cancelled', reason: req.reason ?? 'cancelled' });
    reservation.end(req.reason ?? 'cancelled');
  });
  setHandler(partnerStopSignal, ({ reason }) => requestStop({ kind: 'skipped', reason }));

  // Every job of the chain is opened at once, under this lease: the records (with the upload
  // token the host must carry, sealed) exist before any job uploads, at the cost of one activity.
  const toOpen = input.jobs.filter((j) => j.preSkipped === undefined);
  const opening = CancellationScope.nonCancellable(() =>
    control.openJobs(
      toOpen.map((j) => ({
        jobId: j.id,
        submissionId: input.submissionId,
        name: j.name,
        attempt: input.attempt,
        hostId,
        leaseId: input.leaseId,
        setNumber: input.setNumber,
      })),
    ),
  );
  background.add(opening);

  const { prepare, execute, uploadAll, runOf } = jobSteps(input, opening, stops);

  /** Final results go to the store in batches: whatever ended while the last batch was on its way. */
  const finish = resultBatching(
    (batch: { jobId: string; leaseId: string; result: JobResult }[]) => control.finishJobs(batch),
    opening,
    background,
  );

  /** Records a job's final result: in the store (sealing it), for the recipe set, for the chain. */
  const settle = (job: ChainJob, result: JobResult) => {
    results[job.id] = result;
    if (isHostLost(result)) state.lost ??= job.name;
    if (job.preSkipped === undefined) finish({ jobId: job.id, leaseId: input.leaseId, result });
    if (input.reportFaultsTo && (result.kind === 'failed' || result.kind === 'aborted')) {
      background.add(
        signalIfRunning(getExternalWorkflowHandle(input.reportFaultsTo), chainFaultSignal, {
          hostId,
          jobName: job.name,
          result,
        }),
      );
    }
  };

  /** A job's run ended (tentative) and then its uploads (final): what follows from each. */
  const follow = (job: ChainJob, prepared: Prepared, ran: Promise<Ran>) =>
    ran.then(async (r) => {
      tentative[job.id] = r.result;
      if (isHostLost(r.result)) {
        state.lost ??= job.name;
        // Whatever is queued behind it on that host will never run there.
        for (const later of queuedBehindLoss(input.jobs, job, results))
          cancelJob(later.id, lostBefore(hostId, state.lost, later));
      }
      const final = await uploadAll(job, prepared, r);
      // Its child started on the runner's verdict; the uploads then failed: stop the child.
      for (const child of childrenToStop(input.jobs, job, r.result, final))
        cancelJob(child.id, skippedBelow(job, final));
      settle(job, final);
      return final;
    });

  /** Prepared (or preparing) jobs: the next few are provisioned ahead, so none waits for it. */
  const preparing = new Map<string, Promise<Attempt<Prepared>>>();
  const prepareAhead = (job: ChainJob | undefined) => {
    if (!job || preparing.has(job.id) || blocked(state, job, { ...results, ...tentative })) return;
    preparing.set(job.id, prepare(job));
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
      const late = blocked(state, job, { ...results, ...tentative }) ?? overrideOf(job.id);
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
    await endChain(input, { results, state, background, reservation, runOf });
  }
  upsertSearchAttributes([{ key: ResultKey, value: summarize(Object.values(results)) }]);
  return { results, hostLost: state.lost !== undefined };
}
