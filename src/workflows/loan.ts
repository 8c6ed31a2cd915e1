/**
 * @module loanWorkflow: a host lent to a person by hand (`testbay reserve HOST --for 2h`,
 * labgrid's and Beaker's loans). It asks the host's scheduler for that one host, holds the
 * lease as a reservation (reservation-hold.ts, as a chain does after its job) until time
 * runs out or it is released, and gives the lease back. A host that does not become free
 * within `waitMs` is not lent: the loan ends saying why.
 */
import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import type { RunConfig } from '../domain/job-run.js';
import { onLeaseAnswers, releaseLease, requestLease, withdrawLeaseRequests, type LeaseGrant } from './lease-client.js';
import { cancelSignal } from './messages.js';
import { reservationHolder, type HoldEnd } from './reservation-hold.js';
import { inBackground } from './signal.js';

export interface LoanInput {
  hostId: string;
  /** the pool whose scheduler holds the host; absent = `default` */
  pool?: string;
  /** a class the host offers: what the scheduler matches the request with */
  workerClass: string;
  by: string;
  reason?: string;
  durationMs: number;
  /** the longest the loan may last, extensions included */
  capMs: number;
  /** how long to wait for the host to become free */
  waitMs: number;
  config: RunConfig;
}

export type LoanResult = { lent: false; reason: string } | { lent: true; end: HoldEnd };

export async function loanWorkflow(input: LoanInput): Promise<LoanResult> {
  const requestId = workflowInfo().workflowId;
  const reservation = reservationHolder();
  let grant: LeaseGrant | undefined;
  let denied: string | undefined;
  let cancelled: string | undefined;
  onLeaseAnswers({
    granted: (g) => {
      if (g.requestId !== requestId) return;
      if (grant || cancelled !== undefined || denied !== undefined) {
        // Granted after we gave up: hand it straight back.
        for (const l of g.leases) inBackground(releaseLease(input.pool, l.hostId, l.token), `handing back ${l.hostId}`);
        return;
      }
      grant = g;
    },
    denied: (d) => {
      if (d.requestId === requestId) denied = d.reason;
    },
  });
  setHandler(cancelSignal, (req) => {
    cancelled ??= req.reason ?? 'cancelled';
    reservation.end(cancelled);
  });

  await requestLease(input.pool, {
    requestId,
    requester: requestId,
    label: `loan of ${input.hostId} to ${input.by}`,
    priority: 0,
    recipes: [
      { workerClass: input.workerClass, hostRequires: [], excludedHosts: [], previousHosts: [], hostId: input.hostId },
    ],
    loanOf: input.hostId,
  });
  await condition(() => grant !== undefined || denied !== undefined || cancelled !== undefined, input.waitMs);
  if (!grant) {
    denied ??= cancelled ?? `host ${input.hostId} did not become free within ${Math.round(input.waitMs / 1000)} s`;
    await withdrawLeaseRequests(input.pool, [requestId]);
    return { lent: false, reason: denied };
  }
  const lease = grant.leases[0]!;
  try {
    const end = await reservation.hold({
      pool: input.pool,
      hostId: input.hostId,
      token: lease.token,
      config: input.config,
      durationMs: input.durationMs,
      sshKeys: [],
      shown: {
        kind: 'loan',
        by: input.by,
        why: input.reason ? `lent to ${input.by}: ${input.reason}` : `lent to ${input.by}`,
        capMs: input.capMs,
        holder: requestId,
        hostId: input.hostId,
        address: lease.address ?? input.hostId,
        hostname: lease.hostname ?? input.hostId,
      },
    });
    return { lent: true, end };
  } finally {
    await releaseLease(input.pool, input.hostId, lease.token);
  }
}
