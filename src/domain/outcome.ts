/**
 * @module Outcomes: the five results a job can end with, the typed causes of an abort,
 * and the rules that turn what happened to a runner into a result. Passed and failed
 * are the runner's verdict on the system under test; aborted is an infrastructure fault
 * (retried on another host); cancelled is a person's decision; skipped never ran.
 */
import type { z } from 'zod';
import type { jobResult } from './wire/results.js';

export const AbortCause = {
  /** the host stopped heartbeating, or never picked up the work */
  HostLost: 'host-lost',
  /** resetting the host or preparing the work dir failed */
  Provision: 'provision',
  /** provisioning took longer than provisionTimeoutMs */
  SetupTimeout: 'setup-timeout',
  /** the runner took longer than timeoutMs */
  RunTimeout: 'run-timeout',
  /** the runner wrote no log output and no status line for outputTimeoutMs */
  NoOutput: 'no-output',
  /** the runner died of a signal Testbay did not send, or could not be started */
  RunnerCrash: 'runner-crash',
  /** the runner's program does not exist on the host */
  RunnerMissing: 'runner-missing',
  /** the runner declared an abort (exit 75 or an abort progress line) */
  RunnerAbort: 'runner-abort',
  /** results could not be uploaded */
  Upload: 'upload',
  /** an asset could not be downloaded or failed its checksum */
  Asset: 'asset',
  /** the test code could not be fetched or checked out */
  TestCode: 'test-code',
  /** the host's setup is broken (runner prerequisites, cache or work dir) */
  BrokenSetup: 'broken-setup',
  /** the job's JUnit/TAP files or per-test results passed the host's limits: the job's own fault */
  ResultsTooLarge: 'results-too-large',
  /** the host was shut down while the job ran */
  HostShutdown: 'host-shutdown',
  /** no host in the lab can take the job (after excluding the hosts it aborted on) */
  NoHostLeft: 'no-host-left',
  /**
   * an unexpected, untyped error (most likely a Testbay bug): not re-scheduled; when it
   * happened on a host it counts towards that host's consecutive aborts, never breaks it at once
   */
  Internal: 'internal',
} as const;
export type AbortCause = (typeof AbortCause)[keyof typeof AbortCause];

export const RESULT_KINDS = ['passed', 'failed', 'aborted', 'cancelled', 'skipped'] as const;
export type ResultKind = (typeof RESULT_KINDS)[number];

/** How a job ended (wire/results.ts is the one source). */
export type JobResult = z.infer<typeof jobResult>;

/** How an aborted job weighs on its host's broken-host count. */
export type HostFault = 'immediate' | 'counts' | 'runner' | 'none';

/**
 * An unambiguous host fault makes the host broken at once; an ordinary infrastructure
 * abort, or an unexpected error on the host, counts towards N consecutive; an abort the
 * job's own runner caused (it crashed, timed out, declared an abort) counts only once that
 * job passes on another host (`runner`: a submitter cannot break hosts with a bad runner);
 * faults of the job's inputs or of the lab do not count.
 */
export function hostFaultOf(result: JobResult): HostFault {
  if (result.kind !== 'aborted') return 'none';
  switch (result.cause) {
    case AbortCause.Provision:
    case AbortCause.BrokenSetup:
      return 'immediate';
    case AbortCause.HostLost:
    case AbortCause.SetupTimeout:
    case AbortCause.Upload:
    case AbortCause.Internal:
      return 'counts';
    case AbortCause.RunTimeout:
    case AbortCause.NoOutput:
    case AbortCause.RunnerCrash:
    case AbortCause.RunnerAbort:
      return 'runner';
    case AbortCause.Asset:
    case AbortCause.TestCode:
    case AbortCause.RunnerMissing:
    case AbortCause.ResultsTooLarge:
    case AbortCause.HostShutdown:
    case AbortCause.NoHostLeft:
      return 'none';
  }
}

/**
 * Whether an abort calls for the host's recoverCommand before its next lease: an
 * infrastructure fault that weighs on the host, on a host that is still there to run it.
 */
export function needsRecovery(result: JobResult): boolean {
  return result.kind === 'aborted' && result.cause !== AbortCause.HostLost && hostFaultOf(result) !== 'none';
}

/**
 * Whether an abort re-schedules its recipe set on other hosts: not when no host is left,
 * not for an unexpected error (most likely a Testbay bug), and not when the job's own
 * results were too large (any other host would refuse them too).
 */
export function isRescheduled(result: JobResult): boolean {
  return (
    result.kind === 'aborted' &&
    result.cause !== AbortCause.NoHostLeft &&
    result.cause !== AbortCause.Internal &&
    result.cause !== AbortCause.ResultsTooLarge
  );
}

/** Per-test counts read from the runner's JUnit XML or TAP output. */
export interface TestSummary {
  total: number;
  failed: number;
  errors: number;
  skipped: number;
  /** names of the failed tests, in report order (first few) */
  failedNames: string[];
}

export const EX_TEMPFAIL = 75;

export interface RunnerExit {
  exitCode: number | null;
  signal: string | null;
  /** set when Testbay stopped the runner itself */
  stoppedBy?: { why: 'cancel' | 'timeout' | 'no-output' | 'shutdown'; reason: string };
  /** reason from a progress line `{"abort": "..."}` */
  declaredAbort?: string;
  tests?: TestSummary;
}

/** The runner contract of DESIGN.md, as one function. */
export function classifyRunnerExit(exit: RunnerExit): JobResult {
  if (exit.stoppedBy) {
    const { why, reason } = exit.stoppedBy;
    if (why === 'cancel') return { kind: 'cancelled', reason };
    if (why === 'timeout') return { kind: 'aborted', cause: AbortCause.RunTimeout, reason };
    if (why === 'no-output') return { kind: 'aborted', cause: AbortCause.NoOutput, reason };
    return { kind: 'aborted', cause: AbortCause.HostShutdown, reason };
  }
  if (exit.declaredAbort !== undefined) {
    return { kind: 'aborted', cause: AbortCause.RunnerAbort, reason: `runner aborted: ${exit.declaredAbort}` };
  }
  if (exit.exitCode === EX_TEMPFAIL) {
    return {
      kind: 'aborted',
      cause: AbortCause.RunnerAbort,
      reason: 'runner exited with 75 (EX_TEMPFAIL): temporary failure',
    };
  }
  if (exit.signal !== null) {
    return {
      kind: 'aborted',
      cause: AbortCause.RunnerCrash,
      reason: `runner was killed by ${exit.signal} before it reported a result`,
    };
  }
  const failures = describeFailures(exit.tests);
  if (exit.exitCode === 0) {
    return failures ? { kind: 'failed', reason: failures } : { kind: 'passed' };
  }
  const code = `runner exited with code ${exit.exitCode ?? 'unknown'}`;
  return { kind: 'failed', reason: failures ? `${code}; ${failures}` : code };
}

function describeFailures(tests: TestSummary | undefined): string | undefined {
  if (!tests) return undefined;
  const bad = tests.failed + tests.errors;
  if (bad === 0) return undefined;
  const names = tests.failedNames
    .slice(0, 3)
    .map((n) => `\`${n}\``)
    .join(', ');
  const more = tests.failedNames.length > 3 ? ', …' : '';
  return `${bad} of ${tests.total} tests failed${names ? `: ${names}${more}` : ''}`;
}

/**
 * The result of several jobs together (a submission): passed only when all passed;
 * otherwise the most serious kind present, where a person's cancel outranks an
 * infrastructure fault, which outranks a test failure.
 */
export function summarize(results: readonly JobResult[]): ResultKind {
  return worstOf(results.map((r) => r.kind));
}

/** The most serious of several result kinds (see summarize). */
export function worstOf(kinds: readonly ResultKind[]): ResultKind {
  const present = new Set(kinds);
  for (const kind of ['cancelled', 'aborted', 'failed', 'skipped'] as const) if (present.has(kind)) return kind;
  return 'passed';
}

/** CLI exit codes: 0 passed, 1 failed, 3 aborted or cancelled (2 is bad input, 4 no server). */
export function exitCodeOf(kind: ResultKind): number {
  switch (kind) {
    case 'passed':
      return 0;
    case 'failed':
    case 'skipped':
      return 1;
    case 'aborted':
    case 'cancelled':
      return 3;
  }
}

export function describeResult(r: JobResult): string {
  if (r.kind === 'passed') return r.reason ? `passed (${r.reason})` : 'passed';
  if (r.kind === 'aborted') return `aborted [${r.cause}]: ${r.reason}`;
  return `${r.kind}: ${r.reason}`;
}

/**
 * Why a job never ran because a parent (startAfter, or the job it runs directly after)
 * did not pass: "parent `build` failed", "… aborted", "… cancelled", "… was skipped".
 */
export function parentDidNotPass(parent: string, kind: ResultKind): string {
  return `parent \`${parent}\` ${kind === 'skipped' ? 'was skipped' : kind}`;
}

/**
 * Why a job of a parallel recipe set was stopped or never started because of a partner:
 * "partner `client` failed", "… aborted", "… was cancelled", "… was skipped".
 */
export function partnerDidNotPass(partner: string, kind: ResultKind): string {
  return `partner \`${partner}\` ${kind === 'skipped' || kind === 'cancelled' ? `was ${kind}` : kind}`;
}

/** Why a job of a chain never started: its host was lost while an earlier job ran. */
export function hostLostBefore(hostId: string, lostDuring: string, job: string): string {
  return `host ${hostId} was lost while running \`${lostDuring}\`, before \`${job}\` could start`;
}
