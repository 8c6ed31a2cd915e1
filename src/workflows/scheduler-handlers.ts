/**
 * @module setSchedulerHandlers: the scheduler's message handlers. Each turns a signal or an
 * update into a named transition of the lab (domain/lab.ts), marks the lab changed so the
 * main loop allocates again, and starts what follows (a presence, a health check, a denial);
 * the query answers with the lab's views.
 */
import { ApplicationFailure, log, setHandler, workflowInfo } from '@temporalio/workflow';
import { ErrorType } from '../domain/errors.js';
import { hostView, hostViews, queueView } from '../domain/lab-view.js';
import {
  clearBroken,
  dropImpossible,
  enqueue,
  markBroken,
  markReserved,
  registerHost,
  release,
  removeHost,
  setMaintenance,
  setPriority,
  withdrawRequest,
  type HostRecord,
} from '../domain/lab.js';
import {
  cancelLeaseRequestSignal,
  configureSignal,
  hostActionUpdate,
  labQuery,
  registerHostSignal,
  releaseLeaseSignal,
  requestLeaseSignal,
  reservationSignal,
  setPriorityUpdate,
} from './scheduler-messages.js';
import type { SchedulerRun } from './scheduler-run.js';

/** What the handlers start beside changing the lab. */
export interface SchedulerParts {
  watchPresence: (host: HostRecord) => void;
  /** a removed host's presence ends */
  forget: (hostId: string) => void;
  maybeCheck: (host: HostRecord, why: string) => void;
  deny: (requester: string, requestId: string, reason: string) => void;
  /** the lease checks' interval changed */
  leaseCheckIntervalChanged: () => void;
}

export function setSchedulerHandlers(
  run: SchedulerRun,
  { watchPresence, forget, maybeCheck, deny, leaseCheckIntervalChanged }: SchedulerParts,
): void {
  const { lab, pool } = run;

  setHandler(registerHostSignal, (reg) => {
    const returning = lab.hosts[reg.hostId]?.online === false;
    const host = registerHost(lab, reg, Date.now());
    watchPresence(host);
    if (returning) maybeCheck(host, 'back online');
    run.dirty = true;
  });
  setHandler(requestLeaseSignal, (req) => {
    const queued = enqueue(lab, req, Date.now());
    if (!queued.queued) deny(req.requester, req.requestId, queued.reason);
    run.dirty = true;
  });
  setHandler(cancelLeaseRequestSignal, ({ requestId }) => {
    const released = withdrawRequest(lab, requestId, Date.now());
    if (released.length > 0)
      log.info('withdrawn request gave back the leases it was granted meanwhile', { requestId, hosts: released });
    run.dirty = true;
  });
  setHandler(releaseLeaseSignal, ({ hostId, token, outcomes, recovery }) => {
    const wasCheck = lab.hosts[hostId]?.lease?.healthCheck === true;
    const r = release(lab, hostId, token, outcomes, Date.now(), recovery);
    if (r.broken) {
      log.warn('host broken', { hostId, reason: r.broken });
      if (!wasCheck) maybeCheck(lab.hosts[hostId]!, `broken: ${r.broken}`);
    }
    for (const other of r.brokenElsewhere ?? []) {
      log.warn('host broken', { hostId: other.hostId, reason: other.reason });
      maybeCheck(lab.hosts[other.hostId]!, `broken: ${other.reason}`);
    }
    run.dirty = true;
  });
  setHandler(configureSignal, (c) => {
    if (c.leaseCheckMs !== undefined && c.leaseCheckMs !== run.config.leaseCheckMs) leaseCheckIntervalChanged();
    run.config = { ...run.config, ...c };
    lab.brokenAfterAborts = run.config.brokenAfterAborts;
    run.dirty = true;
  });
  setHandler(
    hostActionUpdate,
    ({ hostId, action, reason }) => {
      const now = Date.now();
      let host: HostRecord | undefined;
      switch (action) {
        case 'maintenance-on':
        case 'maintenance-off':
          host = setMaintenance(lab, hostId, action === 'maintenance-on');
          if (host && action === 'maintenance-off') maybeCheck(host, 'back from maintenance');
          break;
        case 'clear-broken':
          host = clearBroken(lab, hostId);
          break;
        case 'mark-broken':
          host = markBroken(lab, hostId, reason ?? 'marked broken by an operator', now);
          break;
        case 'remove':
          removeHost(lab, hostId);
          forget(hostId);
          for (const { request, reason: why } of dropImpossible(lab)) deny(request.requester, request.requestId, why);
          break;
      }
      run.dirty = true;
      return host ? hostView(lab, host, pool) : null;
    },
    {
      validator: ({ hostId, action }) => {
        // Typed, so the API answers 404 or 409 by the type, not by the message.
        if (!lab.hosts[hostId])
          throw ApplicationFailure.create({
            type: ErrorType.UnknownHost,
            message: `unknown host ${hostId}`,
            nonRetryable: true,
          });
        if (action === 'remove' && lab.hosts[hostId]?.lease) {
          throw ApplicationFailure.create({
            type: ErrorType.HostBusy,
            message: `host ${hostId} holds a lease; put it into maintenance first and remove it when idle`,
            nonRetryable: true,
          });
        }
      },
    },
  );
  setHandler(reservationSignal, ({ hostId, token, reservation }) => {
    if (markReserved(lab, hostId, token, reservation))
      log.info(reservation ? 'host reserved' : 'reservation ended', {
        hostId,
        ...(reservation ? { by: reservation.by, until: reservation.until } : {}),
      });
    run.dirty = true;
  });
  setHandler(
    setPriorityUpdate,
    ({ requestId, priority }) => {
      const changed = setPriority(lab, requestId, priority)!;
      run.dirty = true;
      return { previous: changed.previous, priority };
    },
    {
      validator: ({ requestId }) => {
        if (!lab.queue.some((r) => r.requestId === requestId)) {
          throw ApplicationFailure.create({
            type: ErrorType.NotQueued,
            message: `${requestId} is not queued: its hosts were leased already, or it ended`,
            nonRetryable: true,
          });
        }
      },
    },
  );
  setHandler(labQuery, () => {
    const { runId } = workflowInfo();
    return { hosts: hostViews(lab, pool), queue: queueView(lab, pool), runId, pools: [{ pool, runId }] };
  });
}
