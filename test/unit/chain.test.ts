import { describe, expect, it } from 'vitest';
import {
  afterFailedUpload,
  blocked,
  childrenToStop,
  needsProvision,
  needsUpload,
  queuedBehindLoss,
  ResultBatches,
  runDeadlineMs,
  stoppedAs,
  type ChainJobRef,
  type ChainState,
} from '../../src/domain/chain.js';
import { AbortCause, type JobResult } from '../../src/domain/outcome.js';
import { isHostLost } from '../../src/workflows/failures.js';

const jobs: ChainJobRef[] = [
  { id: 'j1', name: 'build' },
  { id: 'j2', name: 'test', chainParent: 'build' },
  { id: 'j3', name: 'lint' },
  { id: 'j4', name: 'deploy', chainParent: 'test' },
];
const chain = (over: Partial<ChainState> = {}): ChainState => ({
  hostId: 'h1',
  byName: new Map(jobs.map((j) => [j.name, j])),
  ...over,
});
const [, test, lint, deploy] = jobs as [ChainJobRef, ChainJobRef, ChainJobRef, ChainJobRef];
const passed: JobResult = { kind: 'passed' };
const failed: JobResult = { kind: 'failed', reason: '1 test failed' };
const lost: JobResult = { kind: 'aborted', cause: AbortCause.HostLost, reason: 'host h1 stopped heartbeating' };

describe('which job of a chain may run', () => {
  it('runs a job whose parent passed or is not known yet', () => {
    expect(blocked(chain(), test, {})).toBeUndefined();
    expect(blocked(chain(), test, { j1: passed })).toBeUndefined();
  });

  it('skips a job below a parent that did not pass, naming the parent', () => {
    expect(blocked(chain(), test, { j1: failed })).toEqual({ kind: 'skipped', reason: 'parent `build` failed' });
    expect(blocked(chain(), deploy, { j2: { kind: 'skipped', reason: 'x' } })).toEqual({
      kind: 'skipped',
      reason: 'parent `test` was skipped',
    });
  });

  it('leaves other branches running when one parent failed', () => {
    expect(blocked(chain(), lint, { j1: failed })).toBeUndefined();
  });

  it('a pre-skipped job keeps its own reason, before any stop', () => {
    const job = { ...lint, preSkipped: 'parent `setup` aborted' };
    expect(blocked(chain({ stop: { kind: 'cancelled', reason: 'by alice' } }), job, {})).toEqual({
      kind: 'skipped',
      reason: 'parent `setup` aborted',
    });
  });

  it('a stop ends every job not yet run with the stop reason', () => {
    const stop = { kind: 'skipped' as const, reason: 'partner `client` failed' };
    expect(blocked(chain({ stop }), lint, {})).toEqual(stop);
    expect(blocked(chain({ stop }), test, { j1: failed })).toEqual(stop);
  });

  it('after a host loss, a job that never started is aborted as host-lost, naming the job it was lost during', () => {
    expect(blocked(chain({ lost: 'build' }), lint, {})).toEqual({
      kind: 'aborted',
      cause: AbortCause.HostLost,
      reason: 'host h1 was lost while running `build`, before `lint` could start',
    });
  });
});

describe('what a stopped job ends as', () => {
  it('its own override first, then the chain stop, else nothing', () => {
    const stop = { kind: 'cancelled' as const, reason: 'cancelled' };
    expect(stoppedAs(chain({ stop }), failed)).toEqual(failed);
    expect(stoppedAs(chain({ stop }), undefined)).toEqual(stop);
    expect(stoppedAs(chain(), undefined)).toBeUndefined();
  });

  it('a host loss stops every other job without a final result', () => {
    expect(queuedBehindLoss(jobs, test, { j1: passed }).map((j) => j.name)).toEqual(['lint', 'deploy']);
  });

  it('a failed upload after a passed run stops the children that started on that verdict', () => {
    expect(childrenToStop(jobs, test, passed, failed).map((j) => j.name)).toEqual(['deploy']);
    expect(childrenToStop(jobs, test, passed, passed)).toEqual([]);
    expect(childrenToStop(jobs, test, failed, failed)).toEqual([]);
  });

  it('a failed upload fails a passed job, and leaves another verdict as it was (with a warning)', () => {
    const upload: JobResult = { kind: 'aborted', cause: AbortCause.Upload, reason: 'upload failed' };
    expect(afterFailedUpload(passed, upload)).toEqual({ result: upload, warn: false });
    expect(afterFailedUpload(failed, upload)).toEqual({ result: failed, warn: true });
  });
});

describe('host activities of a job', () => {
  it('provisions only jobs with assets or test code', () => {
    expect(needsProvision({ assets: [] })).toBe(false);
    expect(needsProvision({ assets: [{}] })).toBe(true);
    expect(needsProvision({ assets: [], tests: { git: 'x' } })).toBe(true);
  });

  it('uploads unless nothing was provisioned, the host was lost, the job never started or the run uploaded itself', () => {
    const base = { result: failed, provisioned: true };
    expect(needsUpload(base, isHostLost)).toBe(true);
    expect(needsUpload({ ...base, provisioned: false }, isHostLost)).toBe(false);
    expect(needsUpload({ ...base, result: lost }, isHostLost)).toBe(false);
    expect(needsUpload({ ...base, notStarted: true }, isHostLost)).toBe(false);
    expect(needsUpload({ ...base, uploaded: { files: 1 } }, isHostLost)).toBe(false);
  });

  it('a run waiting behind another gets both deadlines and margins', () => {
    expect(runDeadlineMs(1000)).toBe(61_000);
    expect(runDeadlineMs(1000, 2000)).toBe(1000 + 60_000 + 2000 + 60_000);
  });
});

describe('result batches', () => {
  it('sends the first result alone, then whatever ended while it was on its way, one batch at a time', () => {
    const b = new ResultBatches<string>();
    b.add('a');
    expect(b.take()).toEqual(['a']);
    b.add('b');
    b.add('c');
    expect(b.take()).toBeUndefined();
    b.sent();
    expect(b.take()).toEqual(['b', 'c']);
    b.sent();
    expect(b.take()).toBeUndefined();
  });
});
