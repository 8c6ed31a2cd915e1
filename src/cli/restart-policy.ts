/**
 * @module When `testbay dev` restarts one of its processes, as systemd's
 * `Restart=on-failure` would: pure decisions with time passed in, no processes. A process
 * that fails is restarted after a backoff that doubles from the first delay up to the
 * maximum, and starts over once the process had stayed up `resetAfterMs`; one that failed
 * `limit` times within `windowMs` is left down. A clean exit (code 0, or SIGHUP, SIGINT,
 * SIGTERM, SIGPIPE) is not a failure and is not restarted.
 */
import { z } from 'zod';
import { ConfigError } from '../config.js';

export interface RestartPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** a process up this long before it failed starts the backoff over */
  resetAfterMs: number;
  /** failures within `windowMs` that leave a process down */
  limit: number;
  windowMs: number;
}

/** How a process ended: its exit code or signal, or the error that kept it from starting. */
export type ProcessEnd = { code: number | null; signal: NodeJS.Signals | null } | { error: string };

export interface RestartHistory {
  /** when the failures within the window happened */
  failuresAt: number[];
  /** restarts since the process last stayed up `resetAfterMs`: the backoff's exponent */
  streak: number;
}

export type RestartDecision =
  | { action: 'restart'; delayMs: number; history: RestartHistory }
  | { action: 'give-up'; failures: number; history: RestartHistory }
  | { action: 'leave-down'; history: RestartHistory };

export const NO_FAILURES: RestartHistory = { failuresAt: [], streak: 0 };

/** Signals systemd counts as a clean stop, as exit code 0 is. */
const CLEAN_SIGNALS: readonly string[] = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGPIPE'];

export function isFailure(end: ProcessEnd): boolean {
  if ('error' in end) return true;
  if (end.signal !== null) return !CLEAN_SIGNALS.includes(end.signal);
  return end.code !== 0;
}

/** "exit code 1", "signal SIGKILL", "could not start: …" */
export function describeEnd(end: ProcessEnd): string {
  if ('error' in end) return `could not start: ${end.error}`;
  return end.signal !== null ? `signal ${end.signal}` : `exit code ${end.code}`;
}

/** What to do about a process that ended at `endedAt` after it had started at `startedAt`. */
export function decideRestart(
  history: RestartHistory,
  run: { startedAt: number; endedAt: number; end: ProcessEnd },
  policy: RestartPolicy,
): RestartDecision {
  if (!isFailure(run.end)) return { action: 'leave-down', history };
  const failuresAt = [...history.failuresAt.filter((t) => run.endedAt - t < policy.windowMs), run.endedAt];
  const streak = run.endedAt - run.startedAt >= policy.resetAfterMs ? 0 : history.streak;
  const next = { failuresAt, streak: streak + 1 };
  if (failuresAt.length >= policy.limit) return { action: 'give-up', failures: failuresAt.length, history: next };
  return { action: 'restart', delayMs: backoffMs(streak, policy), history: next };
}

/** The delay before the restart that follows `streak` earlier ones: 1 s, 2 s, 4 s, … at most the maximum. */
export function backoffMs(streak: number, policy: RestartPolicy): number {
  return Math.min(policy.firstDelayMs * 2 ** Math.min(streak, 30), policy.maxDelayMs);
}

const ms = z.coerce.number().int().positive();
const schema = z.object({
  TESTBAY_RESTART_DELAY_MS: ms.default(1_000),
  TESTBAY_RESTART_MAX_DELAY_MS: ms.default(30_000),
  TESTBAY_RESTART_LIMIT: z.coerce.number().int().min(1).default(5),
});

/** The policy from the environment; the reset time and the window are a minute, as the limit's wording says. */
export function restartPolicyFromEnv(env: NodeJS.ProcessEnv): RestartPolicy {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    firstDelayMs: e.TESTBAY_RESTART_DELAY_MS,
    maxDelayMs: Math.max(e.TESTBAY_RESTART_MAX_DELAY_MS, e.TESTBAY_RESTART_DELAY_MS),
    resetAfterMs: 60_000,
    limit: e.TESTBAY_RESTART_LIMIT,
    windowMs: 60_000,
  };
}
