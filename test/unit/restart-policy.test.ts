/**
 * `testbay dev`'s restart policy (src/cli/restart-policy.ts), as systemd's
 * Restart=on-failure: which ends are failures, the backoff 1 s, 2 s, 4 s … 30 s that starts
 * over after a minute up, and the limit of 5 failures within a minute. Time is passed in.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import {
  backoffMs,
  decideRestart,
  describeEnd,
  isFailure,
  NO_FAILURES,
  restartPolicyFromEnv,
  type ProcessEnd,
  type RestartDecision,
  type RestartHistory,
} from '../../src/cli/restart-policy.js';

const policy = restartPolicyFromEnv({});
const killed: ProcessEnd = { code: null, signal: 'SIGKILL' };

/** Runs a process through ends: each entry is [seconds it stayed up, how it ended]; returns every decision. */
function replay(runs: [upSeconds: number, end: ProcessEnd][], startAt = 0): RestartDecision[] {
  let history: RestartHistory = NO_FAILURES;
  let now = startAt;
  const decisions: RestartDecision[] = [];
  for (const [up, end] of runs) {
    const startedAt = now;
    now += up * 1000;
    const d = decideRestart(history, { startedAt, endedAt: now, end }, policy);
    decisions.push(d);
    history = d.history;
    if (d.action === 'restart') now += d.delayMs;
  }
  return decisions;
}

const delays = (ds: RestartDecision[]) => ds.map((d) => (d.action === 'restart' ? d.delayMs : d.action));

describe('restart policy', () => {
  it('defaults: 1 s first, 30 s at most, 5 failures within 60 s, backoff reset after 60 s up', () => {
    expect(policy).toEqual({
      firstDelayMs: 1_000,
      maxDelayMs: 30_000,
      resetAfterMs: 60_000,
      limit: 5,
      windowMs: 60_000,
    });
  });

  it('a non-zero exit code, an unclean signal or a failed start is a failure; exit 0 and SIGTERM, SIGINT, SIGHUP, SIGPIPE are not', () => {
    expect(isFailure({ code: 1, signal: null })).toBe(true);
    expect(isFailure({ code: null, signal: 'SIGKILL' })).toBe(true);
    expect(isFailure({ code: null, signal: 'SIGSEGV' })).toBe(true);
    expect(isFailure({ error: 'spawn ENOENT' })).toBe(true);
    expect(isFailure({ code: 0, signal: null })).toBe(false);
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGPIPE'] as const)
      expect(isFailure({ code: null, signal })).toBe(false);
  });

  it('says how a process ended: its exit code or its signal', () => {
    expect(describeEnd({ code: 3, signal: null })).toBe('exit code 3');
    expect(describeEnd(killed)).toBe('signal SIGKILL');
    expect(describeEnd({ error: 'port 8780 in use' })).toBe('could not start: port 8780 in use');
  });

  it('a clean exit is left down and counts nothing', () => {
    const [d] = replay([[5, { code: 0, signal: null }]]);
    expect(d).toEqual({ action: 'leave-down', history: NO_FAILURES });
  });

  it('backs off 1 s, 2 s, 4 s, 8 s … up to 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 40].map((n) => backoffMs(n, policy))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
    // Failures 20 s apart: never 5 within a minute, so the backoff grows to its cap.
    expect(delays(replay(Array.from({ length: 8 }, () => [20, killed] as [number, ProcessEnd])))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('the backoff starts over once the process stayed up 60 s', () => {
    expect(
      delays(
        replay([
          [20, killed],
          [20, killed],
          [20, killed],
          [60, killed],
          [20, killed],
        ]),
      ),
    ).toEqual([1_000, 2_000, 4_000, 1_000, 2_000]);
    expect(
      delays(
        replay([
          [20, killed],
          [20, killed],
          [59.9, killed],
        ]),
      ),
    ).toEqual([1_000, 2_000, 4_000]);
  });

  it('the fifth failure within a minute leaves the process down', () => {
    const ds = replay([
      [0.5, killed],
      [0.5, killed],
      [0.5, killed],
      [0.5, killed],
      [0.5, killed],
    ]);
    expect(delays(ds)).toEqual([1_000, 2_000, 4_000, 8_000, 'give-up']);
    expect(ds[4]).toMatchObject({ action: 'give-up', failures: 5 });
  });

  it('failures older than a minute do not count towards the limit', () => {
    // Failures at 1, 3, 6 and 11 s, then 50 s up: at 69 s only the one at 11 s is within the minute.
    const ds = replay([
      [1, killed],
      [1, killed],
      [1, killed],
      [1, killed],
      [50, killed],
    ]);
    expect(ds.map((d) => d.action)).toEqual(['restart', 'restart', 'restart', 'restart', 'restart']);
    expect(ds[4]!.history.failuresAt).toEqual([11_000, 69_000]);
  });

  it('a start that failed counts as a failure', () => {
    const [d] = replay([[0, { error: 'the API did not answer' }]]);
    expect(d).toMatchObject({ action: 'restart', delayMs: 1_000 });
  });

  it('reads the first delay, the maximum and the limit from the environment, and refuses bad values by name', () => {
    expect(
      restartPolicyFromEnv({
        TESTBAY_RESTART_DELAY_MS: '200',
        TESTBAY_RESTART_MAX_DELAY_MS: '1000',
        TESTBAY_RESTART_LIMIT: '3',
      }),
    ).toMatchObject({ firstDelayMs: 200, maxDelayMs: 1_000, limit: 3 });
    // A maximum below the first delay is the first delay.
    expect(
      restartPolicyFromEnv({ TESTBAY_RESTART_DELAY_MS: '5000', TESTBAY_RESTART_MAX_DELAY_MS: '1000' }).maxDelayMs,
    ).toBe(5_000);
    expect(() => restartPolicyFromEnv({ TESTBAY_RESTART_DELAY_MS: 'soon' })).toThrow(ConfigError);
    expect(() => restartPolicyFromEnv({ TESTBAY_RESTART_LIMIT: '0' })).toThrow(/TESTBAY_RESTART_LIMIT/);
  });
});
