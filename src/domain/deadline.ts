/**
 * @module Extending a running job's deadline (Beaker's `bkr watchdog-extend`): by a person
 * (`testbay extend JOB --by 30m`, the API) or by the runner itself (a status line
 * `{"extendMs": 1800000}`), within the lab's cap on all extensions of a job together
 * (TESTBAY_MAX_EXTEND_MS). The rules, pure: the store applies them under its row lock.
 */
import { formatDuration } from './duration.js';

export const DEFAULT_MAX_EXTEND_MS = 24 * 3_600_000;

export interface JobExtension {
  byMs: number;
  /** who asked: a token's name, or `runner` */
  by: string;
  /** ISO time */
  at: string;
}

export type ExtensionDecision =
  | { ok: true; totalMs: number }
  | { ok: false; code: 'ended'; message: string }
  | { ok: false; code: 'over-cap'; message: string };

export function extendedMs(extensions: readonly JobExtension[] | undefined): number {
  return (extensions ?? []).reduce((sum, e) => sum + e.byMs, 0);
}

/** Whether a job may be extended by `byMs` now: it must still run, and stay within the cap. */
export function decideExtension(
  job: { id: string; ended: boolean; result?: string; extensions?: readonly JobExtension[] },
  byMs: number,
  capMs: number,
): ExtensionDecision {
  if (job.ended)
    return {
      ok: false,
      code: 'ended',
      message: `job ${job.id} has already ended${job.result ? ` (${job.result})` : ''}: only a running job's deadline can be extended`,
    };
  const before = extendedMs(job.extensions);
  if (before + byMs > capMs) {
    const left = Math.max(0, capMs - before);
    return {
      ok: false,
      code: 'over-cap',
      message: `byMs: ${formatDuration(byMs)} would extend job ${job.id} by ${formatDuration(before + byMs)} in all, past this lab's cap of ${formatDuration(capMs)} (TESTBAY_MAX_EXTEND_MS); ${left > 0 ? `at most ${formatDuration(left)} more` : 'no more'}`,
    };
  }
  return { ok: true, totalMs: before + byMs };
}

/**
 * When a running job's timeout stops its runner: the runner's start (the job's record turns
 * `running` as the host starts it) plus `timeoutMs` plus every extension. ISO time.
 */
export function deadlineOf(
  runningSince: string,
  timeoutMs: number,
  extensions: readonly JobExtension[] | undefined,
): string {
  return new Date(Date.parse(runningSince) + timeoutMs + extendedMs(extensions)).toISOString();
}

/** "+30 min by alice at 12:03; +1 h by runner at 12:40" */
export function describeExtensions(extensions: readonly JobExtension[] | undefined): string {
  return (extensions ?? []).map((e) => `+${formatDuration(e.byMs)} by ${e.by} at ${e.at.slice(11, 19)}`).join('; ');
}
