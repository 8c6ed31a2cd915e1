import { describe, expect, it } from 'vitest';
import { classifyRunnerExit, exitCodeOf, hostFaultOf, summarize } from '../../src/domain/outcome.js';

const tests = (failed: number) => ({ total: 4, failed, errors: 0, skipped: 0, failedNames: failed ? ['login'] : [] });

describe('runner contract', () => {
  it('exit 0 passes, unless a test result records a failure', () => {
    expect(classifyRunnerExit({ exitCode: 0, signal: null })).toEqual({ kind: 'passed' });
    expect(classifyRunnerExit({ exitCode: 0, signal: null, tests: tests(1) })).toEqual({
      kind: 'failed',
      reason: '1 of 4 tests failed: `login`',
    });
  });

  it('any other exit code is a test failure', () => {
    expect(classifyRunnerExit({ exitCode: 3, signal: null })).toEqual({
      kind: 'failed',
      reason: 'runner exited with code 3',
    });
  });

  it('exit 75, a declared abort, or a signal we did not send are infrastructure aborts', () => {
    expect(classifyRunnerExit({ exitCode: 75, signal: null })).toMatchObject({
      kind: 'aborted',
      cause: 'runner-abort',
    });
    expect(classifyRunnerExit({ exitCode: 1, signal: null, declaredAbort: 'ISO download failed' })).toEqual({
      kind: 'aborted',
      cause: 'runner-abort',
      reason: 'runner aborted: ISO download failed',
    });
    expect(classifyRunnerExit({ exitCode: null, signal: 'SIGSEGV' })).toMatchObject({
      kind: 'aborted',
      cause: 'runner-crash',
    });
  });

  it('a stop by Testbay says why', () => {
    expect(
      classifyRunnerExit({ exitCode: null, signal: 'SIGTERM', stoppedBy: { why: 'timeout', reason: 'too slow' } }),
    ).toEqual({ kind: 'aborted', cause: 'run-timeout', reason: 'too slow' });
    expect(
      classifyRunnerExit({ exitCode: null, signal: 'SIGTERM', stoppedBy: { why: 'cancel', reason: 'by alice' } }),
    ).toEqual({ kind: 'cancelled', reason: 'by alice' });
  });
});

describe('outcome rules', () => {
  it('counts host faults: provisioning at once, ordinary aborts one by one, test failures never', () => {
    expect(hostFaultOf({ kind: 'aborted', cause: 'provision', reason: '' })).toBe('immediate');
    expect(hostFaultOf({ kind: 'aborted', cause: 'host-lost', reason: '' })).toBe('counts');
    expect(hostFaultOf({ kind: 'aborted', cause: 'asset', reason: '' })).toBe('none');
    expect(hostFaultOf({ kind: 'failed', reason: '' })).toBe('none');
    expect(hostFaultOf({ kind: 'cancelled', reason: '' })).toBe('none');
  });

  it('summarizes a submission by its most serious result and maps it to an exit code', () => {
    expect(summarize([{ kind: 'passed' }, { kind: 'passed' }])).toBe('passed');
    expect(summarize([{ kind: 'passed' }, { kind: 'failed', reason: '' }])).toBe('failed');
    expect(
      summarize([
        { kind: 'failed', reason: '' },
        { kind: 'aborted', cause: 'host-lost', reason: '' },
      ]),
    ).toBe('aborted');
    expect([exitCodeOf('passed'), exitCodeOf('failed'), exitCodeOf('aborted'), exitCodeOf('cancelled')]).toEqual([
      0, 1, 3, 3,
    ]);
  });
});
