/**
 * @module Holding a reservation, for a chain after its job and for a loan alike: the host's
 * start hook runs, the scheduler shows the host reserved, and the lease is held in a timer
 * that an extension moves and a release (or a cancel) ends; then the host's end hook runs
 * and prunes the job's dir. The caller releases the lease after. Durable: the timer and the
 * reservation live in the workflow, so a restart of the control worker changes nothing.
 */
import { ApplicationFailure, condition, log, proxyActivities, setHandler } from '@temporalio/workflow';
import type { HostActivities } from '../activities/host/index.js';
import { ErrorType } from '../domain/errors.js';
import { hostTaskQueue } from '../domain/ids.js';
import type { JobRun, RunConfig } from '../domain/job-run.js';
import { extendReservation, formatDuration, type Reservation } from '../domain/reservation.js';
import { tellReservation } from './lease-client.js';
import { changeReservationUpdate, reservationQuery, type ReservationChange } from './reservation-messages.js';

export interface HoldInput {
  pool: string | undefined;
  hostId: string;
  /** the lease held: the scheduler shows the reservation on it */
  token: string;
  config: RunConfig;
  durationMs: number;
  sshKeys: string[];
  /** the job whose dir and environment the hooks get; absent for a loan */
  run?: JobRun;
  /** everything shown but the times and what the host said */
  shown: Omit<Reservation, 'since' | 'until' | 'workDir' | 'resultsDir' | 'startOutput'>;
}

/** How the hold ended, for the log and the caller. */
export type HoldEnd = { by: 'time' } | { by: 'release'; who: string } | { by: 'host'; reason: string };

export type ReservationHolder = ReturnType<typeof reservationHolder>;

/**
 * Installs the reservation's update and query (call at the workflow's start, so a change
 * that comes early is answered, not lost) and returns the hold.
 */
export function reservationHolder() {
  let current: Reservation | undefined;
  let ended: { who: string } | undefined;
  let changed = false;
  /** read through a call: the handlers set it, which narrowing cannot see */
  const endedBy = () => ended;

  setHandler(reservationQuery, () => current ?? null);
  setHandler(
    changeReservationUpdate,
    (change) => {
      if (change.action === 'release') {
        ended ??= { who: change.by };
        return current!;
      }
      const extended = extendReservation(current!, change.byMs, Date.now());
      if (extended.ok) current = { ...current!, until: extended.until };
      changed = true;
      return current!;
    },
    {
      // Synchronous: an async validator rejects nothing. Typed, so the API answers 409 or 400 by the type.
      validator: (change: ReservationChange) => {
        if (!current || ended)
          throw ApplicationFailure.create({
            type: ErrorType.NotReserved,
            message: 'the host is not reserved (any more)',
            nonRetryable: true,
          });
        if (change.action === 'extend') {
          const extended = extendReservation(current, change.byMs, Date.now());
          if (!extended.ok)
            throw ApplicationFailure.create({
              type: ErrorType.ReservationCap,
              message: `cannot extend the reservation by ${formatDuration(change.byMs)}: it ${extended.reason}`,
              nonRetryable: true,
            });
        }
      },
    },
  );

  return {
    /** Ends the reservation from inside the workflow (a cancel); before it began, it never begins. */
    end(who: string): void {
      ended ??= { who };
    },

    /** Holds the host for the reservation's time; returns once it ended and the host is clean. */
    async hold(input: HoldInput): Promise<HoldEnd> {
      if (ended) return { by: 'release', who: ended.who };
      const host = proxyActivities<HostActivities>({
        taskQueue: hostTaskQueue(input.hostId),
        // A host that is gone never picks the hook up: end rather than hold a dead host.
        scheduleToStartTimeout: input.config.hostPickupTimeoutMs,
        heartbeatTimeout: input.config.heartbeatTimeoutMs,
        startToCloseTimeout: '1 hour',
        retry: { maximumAttempts: 1 },
      });
      const since = Date.now();
      const onHost = {
        hostId: input.hostId,
        name: input.shown.holder,
        by: input.shown.by,
        sshKeys: input.sshKeys,
        until: since + input.durationMs,
        ...(input.run ? { run: input.run } : {}),
      };
      let started;
      try {
        started = await host.startReservation(onHost);
      } catch (err) {
        log.warn('the reservation could not start on the host', { hostId: input.hostId, error: String(err) });
        return { by: 'host', reason: String(err) };
      }
      current = {
        ...input.shown,
        since,
        until: onHost.until,
        ...(started.workDir ? { workDir: started.workDir } : {}),
        ...(started.resultsDir ? { resultsDir: started.resultsDir } : {}),
        ...(started.output ? { startOutput: started.output } : {}),
      };
      await tellReservation(input.pool, input.hostId, input.token, current);
      let end: HoldEnd = { by: 'time' };
      for (;;) {
        changed = false;
        const left = current.until - Date.now();
        if (left <= 0) break;
        await condition(() => changed || endedBy() !== undefined, left);
        const release = endedBy();
        if (release) {
          end = { by: 'release', who: release.who };
          break;
        }
        if (changed) await tellReservation(input.pool, input.hostId, input.token, current);
      }
      log.info('reservation ended', { hostId: input.hostId, ...end });
      try {
        await host.endReservation({ ...onHost, until: current.until });
      } catch (err) {
        log.warn('the host could not end the reservation cleanly', { hostId: input.hostId, error: String(err) });
      }
      current = undefined;
      return end;
    },
  };
}
