/**
 * The submission's job table (src/domain/submission-table.ts) without a server: jobs a
 * parent that did not pass leaves skipped, partners stopped with a cancelled job, clones
 * numbered after every job so far, and a dropped clone saying why.
 */
import { describe, expect, it } from 'vitest';
import { AbortCause } from '../../src/domain/outcome.js';
import { formatIssue, validateSpec } from '../../src/domain/parse-spec.js';
import { buildPlan } from '../../src/domain/plan.js';
import type { SubmissionInput } from '../../src/domain/spec.js';
import {
  addAttempt,
  dropClone,
  finishAttempt,
  markLeased,
  newTable,
  preSkipped,
  stoppedResults,
  waitingReason,
} from '../../src/domain/submission-table.js';
import { job, spec } from '../helpers/spec.js';

function table(input: SubmissionInput) {
  const r = validateSpec(input);
  if (!r.ok) throw new Error(r.issues.map(formatIssue).join('\n'));
  return newTable('sub123', buildPlan(r.submission));
}

describe('the submission table', () => {
  it('skips a job whose parent did not pass, saying which and how', () => {
    const t = table(spec(job('build'), job('test', { startAfter: ['build'] })));
    const [buildSet, testSet] = t.plan.recipeSets;
    const first = addAttempt(t, buildSet!, 1);
    addAttempt(t, testSet!, 1);
    expect(waitingReason(t, t.jobs[1]!)).toEqual({ waitingReason: 'waiting for parent `build`' });
    finishAttempt(t, first, { [first.jobIds[0]!]: { kind: 'aborted', cause: AbortCause.HostLost, reason: 'gone' } }, [
      'h1',
    ]);
    expect([...preSkipped(t, testSet!)]).toEqual([['test', 'parent `build` aborted']]);
  });

  it('skips the partners of a root that cannot run: a parallel set starts together or not at all', () => {
    const t = table(
      spec(job('setup'), job('server', { parallelWith: 'client', startAfter: ['setup'] }), job('client')),
    );
    const setupSet = t.plan.recipeSets.find((s) => s.jobs.includes('setup'))!;
    const pair = t.plan.recipeSets.find((s) => s.jobs.includes('server'))!;
    const first = addAttempt(t, setupSet, 1);
    addAttempt(t, pair, 1);
    finishAttempt(t, first, { [first.jobIds[0]!]: { kind: 'failed', reason: '1 test failed' } }, ['h1']);
    expect(Object.fromEntries(preSkipped(t, pair))).toEqual({
      server: 'parent `setup` failed',
      client: 'partner `server` was skipped',
    });
  });

  it('a job cancelled before its set started: its recipe cancelled, the partners skipped', () => {
    const t = table(spec(job('server', { parallelWith: 'client' }), job('client')));
    const set = addAttempt(t, t.plan.recipeSets[0]!, 1);
    const [serverId, clientId] = set.jobIds;
    expect(stoppedResults(t, set, { reason: 'not needed', jobId: clientId! }, new Map())).toEqual({
      [serverId!]: { kind: 'skipped', reason: 'partner `client` was cancelled' },
      [clientId!]: { kind: 'cancelled', reason: 'not needed (before it started)' },
    });
    // The whole submission cancelled: every job cancelled.
    expect(Object.values(stoppedResults(t, set, { reason: 'stop' }, new Map())).map((r) => r.kind)).toEqual([
      'cancelled',
      'cancelled',
    ]);
  });

  it('numbers a clone after every job so far, and links the attempts; a dropped clone says why on the original', () => {
    const t = table(spec(job('a'), job('b')));
    const a = addAttempt(t, t.plan.recipeSets[0]!, 1);
    addAttempt(t, t.plan.recipeSets[1]!, 1);
    markLeased(t, a.number, ['h1']);
    expect(t.jobs[0]).toMatchObject({ state: 'scheduled', hostId: 'h1' });
    finishAttempt(t, a, { [a.jobIds[0]!]: { kind: 'aborted', cause: AbortCause.HostLost, reason: 'host h1 gone' } }, [
      'h1',
    ]);
    const clone = addAttempt(t, t.plan.recipeSets[0]!, 2, a);
    expect(clone).toMatchObject({ number: 3, clonedFrom: 1, jobIds: ['sub123.3'], workflowId: 'rs-sub123-3' });
    expect(t.jobs.find((j) => j.id === 'sub123.1')!.retriedAs).toBe('sub123.3');
    dropClone(t, clone, 'no host of class `local` is left');
    expect(t.sets.map((s) => s.number)).toEqual([1, 2]);
    expect(t.jobs.find((j) => j.id === 'sub123.1')).toMatchObject({
      result: { kind: 'aborted', reason: 'host h1 gone; not re-scheduled: no host of class `local` is left' },
    });
    expect(t.jobs.find((j) => j.id === 'sub123.1')!.retriedAs).toBeUndefined();
    expect(a.notRetried).toBe('not re-scheduled: no host of class `local` is left');
  });
});
