import { describe, expect, it } from 'vitest';
import { AbortCause, type JobResult } from '../../src/domain/outcome.js';
import { decideReschedule, noHostForClone, withNote, type AttemptJob } from '../../src/domain/reschedule.js';

const hostLost = (reason = 'host h1 stopped heartbeating'): JobResult => ({
  kind: 'aborted',
  cause: AbortCause.HostLost,
  reason,
});
const job = (name: string, result: JobResult, hostId = `host-of-${name}`): AttemptJob => ({ name, result, hostId });

describe('re-scheduling a recipe set', () => {
  it('retries an attempt whose jobs aborted on their hosts, excluding those hosts', () => {
    const d = decideReschedule([job('a', hostLost(), 'h1'), job('b', { kind: 'passed' }, 'h2')], 1, 2, false);
    expect(d).toEqual({ kind: 'retry', exclude: ['h1'] });
  });

  it('does not retry a passed attempt, and says nothing', () => {
    expect(decideReschedule([job('a', { kind: 'passed' })], 1, 2, false)).toEqual({ kind: 'stop' });
  });

  it('does not retry a cancelled submission, whatever aborted', () => {
    expect(decideReschedule([job('a', hostLost())], 1, 2, true)).toEqual({ kind: 'stop' });
  });

  it('never re-runs a failed test, even when a partner aborted', () => {
    const d = decideReschedule(
      [job('a', hostLost()), job('b', { kind: 'failed', reason: '1 test failed' })],
      1,
      2,
      false,
    );
    expect(d).toEqual({
      kind: 'stop',
      notRetried: 'not re-scheduled: `b` failed, and a failed test is never re-run',
      note: 'not re-scheduled: `b` failed, and a failed test is never re-run',
    });
  });

  it('does not retry results too large: another host would refuse them too', () => {
    const d = decideReschedule(
      [job('big', { kind: 'aborted', cause: AbortCause.ResultsTooLarge, reason: 'too many' })],
      1,
      2,
      false,
    );
    expect(d.kind === 'stop' && d.notRetried).toMatch(
      /`big` wrote more results than a host takes \(results-too-large\)/,
    );
  });

  it('does not retry an unexpected error (internal)', () => {
    const d = decideReschedule([job('x', { kind: 'aborted', cause: AbortCause.Internal, reason: 'bug' })], 1, 2, false);
    expect(d.kind === 'stop' && d.notRetried).toBe(
      'not re-scheduled: `x` aborted with an unexpected error (internal), which is not retried',
    );
  });

  it('gives up after maxRetries, saying so on the attempt and on its aborted jobs', () => {
    expect(decideReschedule([job('a', hostLost())], 2, 2, false).kind).toBe('retry');
    expect(decideReschedule([job('a', hostLost())], 3, 2, false)).toEqual({
      kind: 'stop',
      notRetried: 'not re-scheduled: maxRetries (2) reached after 3 attempts',
      note: 'gave up after 3 attempts (maxRetries 2)',
    });
  });

  it('says nothing about retries when none were allowed (maxRetries 0)', () => {
    expect(decideReschedule([job('a', hostLost())], 1, 0, false)).toEqual({ kind: 'stop' });
    expect(decideReschedule([job('a', { kind: 'failed', reason: 'f' })], 1, 0, false)).toEqual({ kind: 'stop' });
  });

  it("notes why on aborted jobs only, and names a dropped clone's reason", () => {
    expect(withNote(hostLost('gone'), 'gave up')).toEqual({
      kind: 'aborted',
      cause: AbortCause.HostLost,
      reason: 'gone; gave up',
    });
    expect(withNote({ kind: 'passed' }, 'gave up')).toEqual({ kind: 'passed' });
    expect(noHostForClone('no host of class `x` is left')).toBe('not re-scheduled: no host of class `x` is left');
  });
});
