/**
 * @module The requester's side of the lease protocol with the scheduler workflow, the one
 * place outside the scheduler that knows its lease messages. A requester (a recipe set, a
 * batch run) asks for a lease (`requestLease`; the scheduler may not run yet while a lab
 * starts up, so delivery is retried with back-off), hears the answer (`onLeaseAnswers`:
 * a grant or a denial, as signals back), answers the scheduler's lease checks, withdraws a
 * request it no longer wants (`withdrawLeaseRequest`) and gives leases back
 * (`releaseLease`, with the outcomes the scheduler's broken-host count needs). A chain,
 * which holds a lease its recipe set was granted, only releases it.
 *
 * Each pool of hosts has its own scheduler: every call names the pool (absent = `default`),
 * and this module alone turns it into the scheduler's workflow id.
 */
import {
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import { schedulerWorkflowId } from '../domain/ids.js';
import type { LeaseRequestInput, ResultReport, Recovery } from '../domain/lab.js';
import type { Reservation } from '../domain/reservation.js';
import {
  cancelLeaseRequestSignal,
  leaseCheckSignal,
  leaseDeniedSignal,
  leaseGrantedSignal,
  releaseLeaseSignal,
  requestLeaseSignal,
  reservationSignal,
  type LeaseDenial,
  type LeaseGrant,
} from './scheduler-messages.js';

export type { LeaseDenial, LeaseGrant };

const scheduler = (pool: string | undefined) => getExternalWorkflowHandle(schedulerWorkflowId(pool));

/** Delivery of a lease request is retried this often at first, doubling up to the cap. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

/**
 * Listens for the scheduler's answers to this workflow's requests, and answers its lease
 * checks: the scheduler asks now and then whether the holder of a lease still runs, and
 * delivery is the answer (a signal to a workflow that ended fails, and the scheduler takes
 * its leases back). Call once, at the start of the workflow.
 */
export function onLeaseAnswers(answers: {
  granted: (grant: LeaseGrant) => void;
  denied: (denial: LeaseDenial) => void;
}): void {
  setHandler(leaseGrantedSignal, answers.granted);
  setHandler(leaseDeniedSignal, answers.denied);
  setHandler(leaseCheckSignal, () => undefined);
}

/**
 * Asks the scheduler for a lease; the answer comes through `onLeaseAnswers`. When the
 * scheduler does not run yet (a lab starting up), delivery is tried again with back-off
 * for as long as `keepTrying()` says (always, by default), instead of failing the requester.
 */
export async function requestLease(
  pool: string | undefined,
  request: LeaseRequestInput,
  keepTrying: () => boolean = () => true,
): Promise<void> {
  for (let delayMs = FIRST_RETRY_MS; ; delayMs = Math.min(delayMs * 2, MAX_RETRY_MS)) {
    try {
      await scheduler(pool).signal(requestLeaseSignal, request);
      return;
    } catch (err) {
      if (isCancellation(err) || !keepTrying()) throw err;
      log.warn('scheduler not reachable; retrying', { error: String(err), delayMs });
      await sleep(delayMs);
    }
  }
}

/** Withdraws requests not granted yet; a grant that crosses the withdrawal must be released by the requester. */
export async function withdrawLeaseRequests(pool: string | undefined, requestIds: readonly string[]): Promise<void> {
  await CancellationScope.nonCancellable(() =>
    Promise.all(requestIds.map((requestId) => scheduler(pool).signal(cancelLeaseRequestSignal, { requestId }))),
  );
}

/**
 * Gives a lease back, even from a cancelled scope. A release whose token is no longer the
 * host's current lease is ignored by the scheduler, so releasing twice is harmless.
 */
export function releaseLease(
  pool: string | undefined,
  hostId: string,
  token: string,
  outcomes: ResultReport[] = [],
  recovery?: Recovery,
): Promise<void> {
  return CancellationScope.nonCancellable(() =>
    scheduler(pool).signal(releaseLeaseSignal, { hostId, token, outcomes, ...(recovery ? { recovery } : {}) }),
  );
}

/** Tells the scheduler that a held lease is kept for a person now (what it shows), or no longer. */
export function tellReservation(
  pool: string | undefined,
  hostId: string,
  token: string,
  reservation?: Reservation,
): Promise<void> {
  return CancellationScope.nonCancellable(() =>
    scheduler(pool).signal(reservationSignal, { hostId, token, ...(reservation ? { reservation } : {}) }),
  );
}
