import { describe, expect, it } from 'vitest';
import { decideExtension, describeExtensions, extendedMs } from '../../src/domain/deadline.js';
import { formatDuration, parseDuration } from '../../src/domain/duration.js';
import { classifyRunnerExit, hostFaultOf } from '../../src/domain/outcome.js';
import { validateSpec } from '../../src/domain/parse-spec.js';
import { isSilentTooLong, noOutputReason } from '../../src/domain/watchdog.js';
import { job, rejected, spec } from '../helpers/spec.js';

describe('durations', () => {
  it('reads 90s, 30m, 2h, 1d, 500ms and plain milliseconds', () => {
    expect(['90s', '30m', '2h', '1d', '500ms', '1500', '1.5h', '10 min'].map((t) => parseDuration(t))).toEqual(
      [90_000, 1_800_000, 7_200_000, 86_400_000, 500, 1500, 5_400_000, 600_000].map((ms) => ({ ok: true, ms })),
    );
  });

  it('refuses what is not a duration, saying what one looks like', () => {
    for (const t of ['', 'soon', '-5m', '30 years', '1e3'])
      expect(parseDuration(t)).toEqual({
        ok: false,
        message: `a duration like 90s, 30m or 2h (or milliseconds), not "${t}"`,
      });
  });

  it('prints durations for people', () => {
    expect([800, 1_500, 900_000, 3_600_000, 5_400_000].map(formatDuration)).toEqual([
      '800 ms',
      '1.5 s',
      '15 min',
      '1 h',
      '1 h 30 min',
    ]);
  });
});

describe('the output watchdog', () => {
  it('is off without outputTimeoutMs and fires once the runner was silent that long', () => {
    expect(isSilentTooLong(0, 10 ** 9, undefined)).toBe(false);
    expect(isSilentTooLong(1_000, 15_999, 15_000)).toBe(false);
    expect(isSilentTooLong(1_000, 16_000, 15_000)).toBe(true);
  });

  it('says how long and since which module', () => {
    expect(noOutputReason(900_000, 'boot')).toBe('no output for 15 min since `module boot` (outputTimeoutMs); stopped');
    expect(noOutputReason(2_000, undefined)).toBe('no output for 2 s (outputTimeoutMs); stopped');
  });

  it('aborts with cause no-output, which weighs on the host only once the job passes elsewhere', () => {
    const result = classifyRunnerExit({
      exitCode: null,
      signal: 'SIGTERM',
      stoppedBy: { why: 'no-output', reason: 'no output for 15 min' },
    });
    expect(result).toEqual({ kind: 'aborted', cause: 'no-output', reason: 'no output for 15 min' });
    expect(hostFaultOf(result)).toBe('runner');
  });

  it('takes outputTimeoutMs from the job or from defaults, and rejects a bad one with its path', () => {
    const r = validateSpec({
      defaults: { outputTimeoutMs: 900_000 },
      jobs: [job('a'), job('b', { outputTimeoutMs: 60_000 })],
    });
    expect(r.ok && r.submission.jobs.map((j) => j.outputTimeoutMs)).toEqual([900_000, 60_000]);
    const off = validateSpec(spec(job('a')));
    expect(off.ok && off.submission.jobs[0]!.outputTimeoutMs).toBeUndefined();
    expect(rejected(spec(job('a', { outputTimeoutMs: 0 })))).toEqual([
      'jobs.0.outputTimeoutMs: Too small: expected number to be >0',
    ]);
  });
});

describe('deadline extensions', () => {
  const job = {
    id: 's.1',
    ended: false,
    extensions: [{ byMs: 3_600_000, by: 'alice', at: '2026-12-02T12:03:00.000Z' }],
  };
  it('adds up within the cap', () => {
    expect(decideExtension(job, 1_800_000, 24 * 3_600_000)).toEqual({ ok: true, totalMs: 5_400_000 });
    expect(extendedMs(job.extensions)).toBe(3_600_000);
    expect(describeExtensions(job.extensions)).toBe('+1 h by alice at 12:03:00');
  });

  it('refuses past the cap naming byMs and what is left, and refuses a job that ended', () => {
    expect(decideExtension(job, 2 * 3_600_000, 2 * 3_600_000)).toEqual({
      ok: false,
      code: 'over-cap',
      message:
        "byMs: 2 h would extend job s.1 by 3 h in all, past this lab's cap of 2 h (TESTBAY_MAX_EXTEND_MS); at most 1 h more",
    });
    expect(decideExtension({ ...job, ended: true, result: 'passed' }, 1_000, 10 ** 9)).toMatchObject({
      ok: false,
      code: 'ended',
    });
  });
});
