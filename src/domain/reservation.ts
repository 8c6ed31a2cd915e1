/**
 * @module Reservations: a host kept for a person after a job (the job's `reserve`) or lent
 * by hand (a loan). The spec's shape, when a job's result holds its host, how long, and how
 * far an extension may go under the server's cap. Pure: the chain and the loan workflows,
 * the scheduler's view and the API all call these.
 */
import { z } from 'zod';
import type { JobResult } from './outcome.js';

export const RESERVE_WHEN = ['failed', 'aborted', 'always'] as const;
export type ReserveWhen = (typeof RESERVE_WHEN)[number];

export const RESERVE_DEFAULTS = {
  /** a reservation's length when the spec gives none */
  durationMs: 60 * 60_000,
  /** TESTBAY_MAX_RESERVE_MS: the longest a reservation may hold a host, extensions included */
  maxReserveMs: 24 * 60 * 60_000,
  /** TESTBAY_MAX_LOAN_MS: the longest a submit token may borrow an idle host */
  maxLoanMs: 4 * 60 * 60_000,
} as const;

/** An SSH public key as one line of an authorized_keys file. */
const sshKey = z
  .string()
  .min(1)
  .max(16_384)
  .regex(
    /^(ssh-|ecdsa-|sk-)[A-Za-z0-9@._+-]+ [A-Za-z0-9+/=]+( [^\n\r]*)?$/,
    'must be one SSH public key line ("ssh-ed25519 AAAA… comment")',
  );

export const reserveSpec = z.strictObject({
  /** failed: a failed job; aborted: an aborted one (its runner crashed, it timed out; never a lost host); always: any job that ran */
  when: z.enum(RESERVE_WHEN, { error: `must be one of ${RESERVE_WHEN.join(', ')}` }),
  durationMs: z
    .number()
    .int()
    .positive()
    .max(7 * 24 * 60 * 60_000, 'at most 7 days')
    .default(RESERVE_DEFAULTS.durationMs),
  sshKeys: z.array(sshKey).max(50).optional(),
});
export type ReserveSpec = z.output<typeof reserveSpec>;

/** A lost host (or one shutting down) cannot be debugged on: no reservation holds it. */
const hostGone = (r: JobResult) => r.kind === 'aborted' && (r.cause === 'host-lost' || r.cause === 'host-shutdown');

/** Whether a job's result holds its host for a person. Cancelled and skipped jobs never do. */
/** When a reservation ends, as people read it everywhere: "2026-12-02 15:04 UTC". */
export function untilText(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function shouldReserve(when: ReserveWhen, result: JobResult): boolean {
  if (hostGone(result)) return false;
  switch (when) {
    case 'failed':
      return result.kind === 'failed';
    case 'aborted':
      return result.kind === 'aborted';
    case 'always':
      return result.kind === 'passed' || result.kind === 'failed' || result.kind === 'aborted';
  }
}

export interface ReservableJob {
  id: string;
  name: string;
  reserve?: ReserveSpec;
}

export interface DueReservation {
  jobId: string;
  jobName: string;
  durationMs: number;
  sshKeys: string[];
  /** for people: "job `install` failed: 2 of 5 tests failed" */
  why: string;
}

/**
 * The reservation a chain ends with: the first job (in run order) whose result its
 * `reserve` asks to hold the host for; undefined when none does or the chain was cancelled.
 */
export function reservationDue(
  jobs: readonly ReservableJob[],
  results: Readonly<Record<string, JobResult>>,
  cancelled = false,
): DueReservation | undefined {
  if (cancelled) return undefined;
  for (const job of jobs) {
    const result = results[job.id];
    if (!job.reserve || !result || !shouldReserve(job.reserve.when, result)) continue;
    const reason = 'reason' in result && result.reason ? `: ${result.reason}` : '';
    return {
      jobId: job.id,
      jobName: job.name,
      durationMs: job.reserve.durationMs,
      sshKeys: job.reserve.sshKeys ?? [],
      why: `job \`${job.name}\` ${result.kind}${reason}`,
    };
  }
  return undefined;
}

/** What the scheduler and every view show of a reservation. */
export interface Reservation {
  kind: 'job' | 'loan';
  /** who holds it: the job's submitter or the borrower */
  by: string;
  why: string;
  since: number;
  until: number;
  /** the longest it may last from `since`, extensions included */
  capMs: number;
  /** the workflow that holds the lease: extensions and releases go to it */
  holder: string;
  /** the host it keeps */
  hostId: string;
  jobId?: string;
  submissionId?: string;
  /** how to connect */
  address: string;
  hostname: string;
  workDir?: string;
  resultsDir?: string;
  /** what the host's reserve start command printed (or why it failed) */
  startOutput?: string;
}

export type ExtendResult = { ok: true; until: number } | { ok: false; reason: string };

/** A reservation's end moved on by `byMs`, unless that takes it past its cap. */
export function extendReservation(
  r: Pick<Reservation, 'since' | 'until' | 'capMs'>,
  byMs: number,
  now: number,
): ExtendResult {
  if (!Number.isInteger(byMs) || byMs <= 0)
    return { ok: false, reason: 'an extension must be a positive number of milliseconds' };
  const until = Math.max(r.until, now) + byMs;
  if (until - r.since > r.capMs) {
    return {
      ok: false,
      reason: `would hold the host ${formatDuration(until - r.since)} in all, above the cap of ${formatDuration(r.capMs)} (at most ${formatDuration(Math.max(0, r.since + r.capMs - Math.max(r.until, now)))} more)`,
    };
  }
  return { ok: true, until };
}

/** The issues of a submission's `reserve` fields against the server's cap (paths as the spec's). */
export function reserveCapIssues(
  jobs: readonly { reserve?: ReserveSpec }[],
  capMs: number,
): { path: (string | number)[]; message: string }[] {
  return jobs.flatMap((j, i) =>
    j.reserve && j.reserve.durationMs > capMs
      ? [
          {
            path: ['jobs', i, 'reserve', 'durationMs'],
            message: `${j.reserve.durationMs} ms (${formatDuration(j.reserve.durationMs)}) is above this server's cap of ${formatDuration(capMs)} (TESTBAY_MAX_RESERVE_MS)`,
          },
        ]
      : [],
  );
}

/** 90 min → "1h30m"; 2 h → "2h"; 45 s → "45s". */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const parts = [h ? `${h}h` : '', m ? `${m}m` : '', sec && !h ? `${sec}s` : ''].filter(Boolean);
  return parts.join('') || '0s';
}

/** The words for how a person connects to a reserved host, one line each. */
export function connectLines(
  r: Pick<Reservation, 'address' | 'hostname' | 'workDir' | 'resultsDir' | 'startOutput'>,
): string[] {
  return [
    `address: ${r.address}${r.hostname && r.hostname !== r.address ? ` (${r.hostname})` : ''}`,
    ...(r.workDir ? [`work dir: ${r.workDir}`] : []),
    ...(r.resultsDir ? [`results dir: ${r.resultsDir}`] : []),
    ...(r.startOutput
      ? r.startOutput
          .trimEnd()
          .split('\n')
          .map((l) => `reserve hook: ${l}`)
      : []),
  ];
}
