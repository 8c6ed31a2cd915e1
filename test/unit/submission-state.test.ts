/**
 * The submission's decisions (src/domain/submission-state.ts) without a server: recipe sets
 * in after-edge order, batch runs started first, skips, re-scheduling an aborted attempt as
 * a clone with its hosts excluded (and the note when there is no further attempt), a clone
 * dropped when no host is left, a restart counting on, and cancels before, while and after
 * a child starts.
 */
import { describe, expect, it } from 'vitest';
import { AbortCause, type JobResult } from '../../src/domain/outcome.js';
import {
  apply,
  newSubmissionState,
  submissionDone,
  submissionView,
  type SubmissionCommand,
  type SubmissionState,
} from '../../src/domain/submission-state.js';
import { job, plan, spec } from '../helpers/spec.js';
import type { SubmissionInput } from '../../src/domain/spec.js';

const lost = (host: string): JobResult => ({
  kind: 'aborted',
  cause: AbortCause.HostLost,
  reason: `host ${host} gone`,
});
const passed: JobResult = { kind: 'passed', reason: 'all passed' };

function start(input: SubmissionInput, extra: Partial<Parameters<typeof newSubmissionState>[0]> = {}) {
  const s = newSubmissionState({ submissionId: 'sub1', plan: plan(input), maxRetriesCap: 5, ...extra });
  return { s, begun: apply(s, { kind: 'begin' }) };
}
const starts = (cs: SubmissionCommand[]) => cs.flatMap((c) => (c.kind === 'start-set' ? [c] : []));
/** The attempt of set `setNumber` leased `hosts` (one per recipe) and ended with these results (by job name). */
function end(s: SubmissionState, setNumber: number, byName: Record<string, JobResult>, hosts: string[] = ['h1']) {
  const set = s.table.sets.find((v) => v.number === setNumber)!;
  const results = Object.fromEntries(
    set.jobIds.map((id) => [id, byName[s.table.jobs.find((j) => j.id === id)!.name]!]),
  );
  // The recipe set tells the submission its hosts once leased: the jobs' hosts are what a clone excludes.
  apply(s, { kind: 'leased', setNumber, hosts });
  const out = apply(s, { kind: 'set-ended', setNumber, result: { results, hosts } });
  return [...out, ...apply(s, { kind: 'settle' })];
}

describe('the submission state', () => {
  it('starts the sets that wait for nothing, and the rest in after-edge order as their parents end', () => {
    const { s, begun } = start(spec(job('build'), job('test', { startAfter: ['build'] }), job('lint')));
    expect(starts(begun).map((c) => c.setNumber)).toEqual([1, 3]);
    expect(s.table.jobs.find((j) => j.name === 'test')).toMatchObject({ state: 'waiting' });
    expect(
      submissionView(s, { createdAt: 'x', workflowId: 'w' }).jobs.find((j) => j.name === 'test')?.waitingReason,
    ).toBe('waiting for parent `build`');
    const next = end(s, 1, { build: passed });
    expect(starts(next)).toEqual([
      expect.objectContaining({ setNumber: 2, attempt: 1, excludedHosts: [], previousHosts: [] }),
    ]);
    expect(submissionDone(s)).toBe(false);
    end(s, 3, { lint: passed });
    end(s, 2, { test: passed });
    expect(submissionDone(s)).toBe(true);
    expect(submissionView(s, { createdAt: 'x', workflowId: 'w' })).toMatchObject({ state: 'done', result: 'passed' });
  });

  it('starts batch runs before the recipe sets, as their workflows always started', () => {
    const { begun } = start({
      jobs: [job('a')],
      batchRuns: [{ name: 'unit', tests: ['t1'], workerClass: 'local', runner: { command: ['x'] } }],
    });
    expect(begun.map((c) => c.kind)).toEqual(['start-batch-run', 'start-set']);
  });

  it('skips a set whose parent did not pass without starting it, and cascades to its children', () => {
    const { s } = start(spec(job('a'), job('b', { startAfter: ['a'] }), job('c', { startAfter: ['b'] })));
    const next = end(s, 1, { a: { kind: 'failed', reason: '1 test failed' } });
    expect(starts(next)).toEqual([]);
    expect(s.table.jobs.map((j) => [j.name, j.result?.kind, j.result?.reason])).toEqual([
      ['a', 'failed', '1 test failed'],
      ['b', 'skipped', 'parent `a` failed'],
      ['c', 'skipped', 'parent `b` was skipped'],
    ]);
    expect(submissionDone(s)).toBe(true);
  });

  it('re-schedules an aborted attempt as a clone, its host excluded, until maxRetries, then says why not', () => {
    const { s } = start(spec(job('a', { maxRetries: 2 })));
    let next = end(s, 1, { a: lost('h1') }, ['h1']);
    expect(next[0]).toMatchObject({ kind: 'log', message: 're-scheduling aborted recipe set' });
    expect(starts(next)).toEqual([
      expect.objectContaining({ setNumber: 2, attempt: 2, excludedHosts: ['h1'], previousHosts: ['h1'] }),
    ]);
    next = end(s, 2, { a: lost('h2') }, ['h2']);
    expect(starts(next)).toEqual([
      expect.objectContaining({ setNumber: 3, attempt: 3, excludedHosts: ['h1', 'h2'], previousHosts: ['h1', 'h2'] }),
    ]);
    end(s, 3, { a: lost('h3') }, ['h3']);
    expect(submissionDone(s)).toBe(true);
    const sets = s.table.sets;
    expect(sets.map((v) => [v.number, v.clonedFrom])).toEqual([
      [1, undefined],
      [2, 1],
      [3, 2],
    ]);
    expect(sets[2]!.notRetried).toBe('not re-scheduled: maxRetries (2) reached after 3 attempts');
    expect(s.table.jobs[2]!.result?.reason).toBe('host h3 gone; gave up after 3 attempts (maxRetries 2)');
    expect(s.table.jobs.map((j) => j.retriedAs)).toEqual([s.table.jobs[1]!.id, s.table.jobs[2]!.id, undefined]);
  });

  it("caps maxRetries at the server's cap", () => {
    const { s } = start(spec(job('a', { maxRetries: 3 })), { maxRetriesCap: 1 });
    expect(starts(end(s, 1, { a: lost('h1') }))).toHaveLength(1);
    expect(starts(end(s, 2, { a: lost('h2') }))).toEqual([]);
    expect(s.table.sets[1]!.notRetried).toBe('not re-scheduled: maxRetries (1) reached after 2 attempts');
  });

  it('never re-schedules a failed test, and says so', () => {
    const { s } = start(spec(job('a', { maxRetries: 2, parallelWith: 'b' }), job('b')));
    expect(starts(end(s, 1, { a: { kind: 'failed', reason: '1 test failed' }, b: lost('h2') }, ['h1', 'h2']))).toEqual(
      [],
    );
    expect(s.table.sets[0]!.notRetried).toBe('not re-scheduled: `a` failed, and a failed test is never re-run');
  });

  it('drops a clone no host is left for, and says why on the attempt it would have retried', () => {
    const { s } = start(spec(job('a', { maxRetries: 1 })));
    end(s, 1, { a: lost('h1') });
    apply(s, {
      kind: 'set-ended',
      setNumber: 2,
      result: { results: {}, hosts: [], denied: 'no online host of worker class `local` is left' },
    });
    expect(s.table.sets.map((v) => v.number)).toEqual([1]);
    expect(s.table.sets[0]!.notRetried).toBe('not re-scheduled: no online host of worker class `local` is left');
    expect(s.table.jobs).toHaveLength(1);
    expect(s.table.jobs[0]!.retriedAs).toBeUndefined();
    expect(submissionDone(s)).toBe(true);
  });

  it('a restart counts its attempts on from the job it re-runs and prefers its hosts least', () => {
    const { begun } = start(spec(job('a')), {
      restarted: { a: { attempt: 2, hosts: ['h1', 'h2', 'h1'] } },
      lineage: { a: 'old.1' },
    });
    expect(starts(begun)).toEqual([expect.objectContaining({ attempt: 3, previousHosts: ['h1', 'h2'] })]);
  });

  it('a cancel of everything reaches every started child, and no set starts after it', () => {
    const { s } = start({
      jobs: [job('a'), job('b', { startAfter: ['a'] })],
      batchRuns: [{ name: 'unit', tests: ['t1'], workerClass: 'local', runner: { command: ['x'] } }],
    });
    apply(s, { kind: 'batch-started', name: 'unit' });
    apply(s, { kind: 'set-started', setNumber: 1 });
    expect(apply(s, { kind: 'cancel', reason: 'stop' })).toEqual([
      { kind: 'cancel-child', to: { setNumber: 1 }, reason: 'stop' },
      { kind: 'cancel-child', to: { batchRun: 'unit' }, reason: 'stop' },
    ]);
    const next = end(s, 1, { a: { kind: 'cancelled', reason: 'stop' } });
    expect(starts(next)).toEqual([]);
    // A parent that did not pass skips its children first; only a set with nothing to skip ends cancelled.
    expect(s.table.jobs.find((j) => j.name === 'b')?.result).toEqual({
      kind: 'skipped',
      reason: 'parent `a` cancelled',
    });
  });

  it('a cancel that came while a child was starting is passed on once it has started', () => {
    const { s } = start(spec(job('a'), job('b')));
    apply(s, { kind: 'batch-started', name: 'none' });
    expect(apply(s, { kind: 'cancel', reason: 'stop', jobId: s.table.jobs[1]!.id })).toEqual([]);
    expect(apply(s, { kind: 'set-started', setNumber: 2 })).toEqual([
      { kind: 'cancel-child', to: { setNumber: 2 }, reason: 'stop', jobId: s.table.jobs[1]!.id, whileStarting: true },
    ]);
    expect(apply(s, { kind: 'cancel', reason: 'all' })).toEqual([
      { kind: 'cancel-child', to: { setNumber: 2 }, reason: 'all' },
      { kind: 'cancel-child', to: { batchRun: 'none' }, reason: 'all' },
    ]);
    expect(apply(s, { kind: 'set-started', setNumber: 1 })).toEqual([
      { kind: 'cancel-child', to: { setNumber: 1 }, reason: 'all', whileStarting: true },
    ]);
  });

  it('a cancel of everything reaches the started children in the order they started, a clone last', () => {
    const { s } = start(spec(job('a', { maxRetries: 1 }), job('b')));
    apply(s, { kind: 'set-started', setNumber: 2 });
    apply(s, { kind: 'set-started', setNumber: 1 });
    end(s, 1, { a: lost('h1') });
    apply(s, { kind: 'set-started', setNumber: 3 });
    expect(apply(s, { kind: 'cancel', reason: 'stop' }).map((c) => c.kind === 'cancel-child' && c.to)).toEqual([
      { setNumber: 2 },
      { setNumber: 3 },
    ]);
  });

  it("a cancel of a batch run's job that came while it was starting is passed on once it started", () => {
    const { s } = start({
      jobs: [],
      batchRuns: [{ name: 'unit', tests: ['t1'], workerClass: 'local', runner: { command: ['x'] } }],
    });
    const runJob = s.batchRuns.get('unit')!.id;
    expect(apply(s, { kind: 'cancel', reason: 'not now', jobId: runJob })).toEqual([]);
    expect(apply(s, { kind: 'batch-started', name: 'unit' })).toEqual([
      { kind: 'cancel-child', to: { batchRun: 'unit' }, reason: 'not now', whileStarting: true },
    ]);
    expect(apply(s, { kind: 'cancel', reason: 'again', jobId: runJob })).toEqual([
      { kind: 'cancel-child', to: { batchRun: 'unit' }, reason: 'again' },
    ]);
  });

  it('a job cancelled before its set started ends cancelled there, its partners skipped', () => {
    const { s } = start(
      spec(
        job('a'),
        job('server', { startAfter: ['a'], parallelWith: 'client' }),
        job('client', { startAfter: ['a'] }),
      ),
    );
    const client = s.table.jobs.find((j) => j.name === 'client')!;
    expect(apply(s, { kind: 'cancel', reason: 'not needed', jobId: client.id })).toEqual([]);
    expect(starts(end(s, 1, { a: passed }))).toEqual([]);
    expect(Object.fromEntries(s.table.jobs.map((j) => [j.name, j.result]))).toMatchObject({
      server: { kind: 'skipped', reason: 'partner `client` was cancelled' },
      client: { kind: 'cancelled', reason: 'not needed (before it started)' },
    });
  });

  it('marks the jobs of a leased attempt scheduled on their hosts', () => {
    const { s } = start(spec(job('a')));
    apply(s, { kind: 'leased', setNumber: 1, hosts: ['h7'] });
    expect(s.table.jobs[0]).toMatchObject({ state: 'scheduled', hostId: 'h7' });
  });
});
