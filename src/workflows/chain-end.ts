/**
 * @module endChain: what a chain does with its host once its jobs are over, however they
 * ended, outside any cancellation: it settles its background work (job records, fault
 * reports), holds the reservation a job's result asks for, lets the host recover after an
 * infrastructure abort, and then releases the lease with the outcomes.
 */
import { CancellationScope, log, patched, workflowInfo } from '@temporalio/workflow';
import type { ChainJob, ChainState } from '../domain/chain.js';
import type { JobRun, RunConfig } from '../domain/job-run.js';
import type { Recovery } from '../domain/lab.js';
import { needsRecovery, type JobResult } from '../domain/outcome.js';
import { hostAddressOf, type Partner } from '../domain/partners.js';
import { RESERVE_DEFAULTS, reservationDue, type DueReservation } from '../domain/reservation.js';
import { recoverOnHost } from './chain-activities.js';
import { releaseLease } from './lease-client.js';
import type { ReservationHolder } from './reservation-hold.js';
import type { Pending } from './signal.js';

/** The chain holds its lease for a reservation after its jobs (new commands: old histories replay without). */
const RESERVE_PATCH = 'chain-reserve';
/** Chains started before recovery hooks never ran recoverHost. */
const RECOVER_PATCH = 'chain-recover-after-abort';

/** What the end needs of the chain's input. */
export interface ChainEndInput {
  submissionId: string;
  hostId: string;
  leaseId: string;
  jobs: ChainJob[];
  config: RunConfig;
  pool?: string;
  partners?: Record<string, Partner>;
  submittedBy?: string;
}

/** How the chain ended: its final results so far, the stop and the lost host, what it still waits for. */
export interface ChainEnd {
  results: Readonly<Record<string, JobResult>>;
  state: ChainState;
  background: Pending;
  reservation: ReservationHolder;
  /** the job's run as the host got it (a reservation's hooks get the same environment) */
  runOf: (jobId: string) => JobRun | undefined;
}

/** Settles the chain's work, holds a reservation if one is due, recovers the host if needed, releases the lease. */
export function endChain(
  input: ChainEndInput,
  { results, state, background, reservation, runOf }: ChainEnd,
): Promise<void> {
  const { hostId, config } = input;

  const holdFor = async (due: DueReservation) => {
    const run = runOf(due.jobId);
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
        ...hostAddressOf(input.partners, hostId),
      },
    });
    log.info('the reserved host goes back to the pool', { hostId, job: due.jobName, end });
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

  return CancellationScope.nonCancellable(async () => {
    try {
      await background.drain();
    } finally {
      const outcomes = input.jobs.flatMap((j) =>
        results[j.id] ? [{ jobId: j.id, job: j.name, result: results[j.id]! }] : [],
      );
      // A job whose result its `reserve` asks for keeps the host for a person first.
      const due =
        state.lost === undefined ? reservationDue(input.jobs, results, state.stop?.kind === 'cancelled') : undefined;
      if (due && patched(RESERVE_PATCH)) await holdFor(due);
      const recovery = await recover(outcomes);
      // Awaited: a workflow that ends with the signal still outstanding never sends it.
      await releaseLease(input.pool, hostId, input.leaseId, outcomes, recovery);
    }
  });
}
