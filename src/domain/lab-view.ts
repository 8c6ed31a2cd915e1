/**
 * @module What the scheduler shows of its lab: hosts without their lease's fencing token,
 * the queue with why each request waits, and when the scheduler should continue as new.
 * Pure: the scheduler workflow answers its `lab` query with these; the API merges the
 * views of every pool.
 */
import { explainWait, hostState, type HostRecord, type HostState, type LabState } from './lab.js';

/** A host as the `lab` query shows it: its lease without the scheduler's fencing token. */
export interface HostView extends Omit<HostRecord, 'lease'> {
  state: HostState;
  /** the pool whose scheduler holds the host */
  pool: string;
  lease?: Omit<NonNullable<HostRecord['lease']>, 'token'>;
  reservedFor?: string;
}

export interface QueueEntry {
  requestId: string;
  requester: string;
  label: string;
  priority: number;
  enqueuedAt: number;
  waitingReason: string;
  /** the pool whose scheduler holds the request */
  pool: string;
}

export function hostView(lab: LabState, h: HostRecord, pool: string): HostView {
  const { lease, ...host } = h;
  const v: HostView = { ...host, state: hostState(h), pool };
  if (lease) {
    const { token: _token, ...shown } = lease;
    v.lease = shown;
  }
  const reservedFor = lab.reserved[h.id];
  if (reservedFor !== undefined) v.reservedFor = reservedFor;
  return v;
}

export function hostViews(lab: LabState, pool: string): HostView[] {
  return Object.values(lab.hosts)
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((h) => hostView(lab, h, pool));
}

export function queueView(lab: LabState, pool: string): QueueEntry[] {
  return lab.queue.map((r) => ({
    requestId: r.requestId,
    requester: r.requester,
    label: r.label,
    priority: r.priority,
    enqueuedAt: r.enqueuedAt,
    waitingReason: explainWait(lab, r.requestId) ?? 'queued',
    pool,
  }));
}

/**
 * A new run starts with a few events per host (its presence activity is scheduled and
 * started again, and each host hears its old one ended and registers again), so the bar
 * grows with the lab: a big lab would otherwise continue as new over and over.
 */
export const EVENTS_PER_HOST_AFTER_CONTINUE = 4;

export interface HistoryInfo {
  historyLength: number;
  historySize: number;
  continueAsNewSuggested: boolean;
}

export function shouldContinueAsNew(history: HistoryInfo, maxHistoryEvents: number, hosts: number): boolean {
  const bar = Math.max(maxHistoryEvents, 2 * EVENTS_PER_HOST_AFTER_CONTINUE * hosts);
  // Temporal's own suggestion comes at a fixed count; honour it only past the bar, or when
  // the history's size (not its count) calls for it.
  return (
    history.historyLength >= bar ||
    (history.continueAsNewSuggested && (history.historyLength >= bar / 2 || history.historySize > 8 * 1024 * 1024))
  );
}
