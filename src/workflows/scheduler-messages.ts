/**
 * @module Messages of the scheduler workflow: hosts register, recipe sets request and
 * release leases, operators change host modes, and everyone can query the lab.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Job } from '../domain/job.js';
import type { CheckEvery } from '../domain/health-check.js';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../domain/job-run.js';
import type { HostView, QueueEntry } from '../domain/lab-view.js';
import type { HostRegistration, LeaseRequestInput, ResultReport, Recovery } from '../domain/lab.js';
import type { Reservation } from '../domain/reservation.js';

export interface SchedulerConfig {
  /** the presence activity on each host must heartbeat within this, or the host is offline */
  presenceTimeoutMs: number;
  /** a registered host must pick up its presence activity within this */
  presencePickupMs: number;
  brokenAfterAborts: number;
  /** continue-as-new after this many history events (Temporal also suggests it) */
  maxHistoryEvents: number;
  /** health-check job per worker class: run on a host that broke or came back, must pass before it is leased */
  healthChecks: Record<string, Job>;
  /** when a host of a class is due a periodic check (TESTBAY_HEALTH_CHECKS' everyMs and everyJobs); absent: only on breaking and coming back */
  healthCheckEvery?: Record<string, CheckEvery>;
  /** timeouts for the health-check submissions the scheduler starts */
  runConfig: RunConfig;
  /**
   * how often the holder of each lease held longer than this is asked whether it still
   * runs; a lease whose holder has ended (terminated without releasing it) is taken back
   */
  leaseCheckMs: number;
}

export const DEFAULT_SCHEDULER_CONFIG: SchedulerConfig = {
  presenceTimeoutMs: 10_000,
  presencePickupMs: 30_000,
  brokenAfterAborts: 3,
  maxHistoryEvents: 4_000,
  healthChecks: {},
  runConfig: DEFAULT_RUN_CONFIG,
  leaseCheckMs: 60_000,
};

export interface ReleaseRequest {
  hostId: string;
  token: string;
  outcomes: ResultReport[];
  /** set when the host ran its recoverCommand after an abort: a failed one breaks it at once */
  recovery?: Recovery;
}

export type HostAction = 'maintenance-on' | 'maintenance-off' | 'clear-broken' | 'mark-broken' | 'remove';
export interface HostActionRequest {
  hostId: string;
  action: HostAction;
  reason?: string;
}

export type { HostView, QueueEntry } from '../domain/lab-view.js';

export interface LabView {
  hosts: HostView[];
  queue: QueueEntry[];
  /** the scheduler's run (of the default pool, when the API merged every pool's view) */
  runId: string;
  /** every pool the view holds, with its scheduler's run */
  pools: { pool: string; runId: string }[];
}

export const registerHostSignal = defineSignal<[HostRegistration]>('registerHost');
export const requestLeaseSignal = defineSignal<[LeaseRequestInput]>('requestLease');
export const cancelLeaseRequestSignal = defineSignal<[{ requestId: string }]>('cancelLeaseRequest');
export const releaseLeaseSignal = defineSignal<[ReleaseRequest]>('releaseLease');
export const configureSignal = defineSignal<[Partial<SchedulerConfig>]>('configure');
export const hostActionUpdate = defineUpdate<HostView | null, [HostActionRequest]>('hostAction');
export const labQuery = defineQuery<LabView>('lab');
/** From the holder of a lease: the host is kept for a person (or, without `reservation`, no longer). */
export const reservationSignal =
  defineSignal<[{ hostId: string; token: string; reservation?: Reservation }]>('reservation');
/** A queued request's new priority (`testbay priority`); answers the previous one, or fails NotQueued. */
export const setPriorityUpdate = defineUpdate<
  { previous: number; priority: number },
  [{ requestId: string; priority: number }]
>('setPriority');

/** Sent by the scheduler to the requesting workflow. */
export interface LeaseGrant {
  requestId: string;
  /** address and hostname: where partners find the host (absent in grants of older schedulers) */
  leases: { hostId: string; token: string; address?: string; hostname?: string }[];
}
export interface LeaseDenial {
  requestId: string;
  reason: string;
}
export const leaseGrantedSignal = defineSignal<[LeaseGrant]>('leaseGranted');
export const leaseDeniedSignal = defineSignal<[LeaseDenial]>('leaseDenied');
/**
 * Sent by the scheduler to the holder of a lease to learn whether it still runs: the
 * signal fails to deliver to a workflow that ended. Holders need not do anything with it.
 */
export const leaseCheckSignal = defineSignal<[{ requestId: string; hostId: string }]>('leaseCheck');
