/**
 * The mapper from a failed host activity to a job result: typed faults keep their cause;
 * an untyped error while provisioning is `internal` (it counts towards the host's
 * consecutive aborts) rather than `provision` (which breaks the host at once).
 */
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { ErrorType } from '../../src/domain/errors.js';
import { allocate, enqueue, hostState, newLab, registerHost, release } from '../../src/domain/lab.js';
import { hostFaultOf } from '../../src/domain/outcome.js';
import { resultOfFailure, type FailureContext } from '../../src/workflows/failures.js';

const ctx: FailureContext = {
  hostId: 'h1',
  jobName: 'install',
  phase: 'provision',
  heartbeatTimeoutMs: 10_000,
  pickupTimeoutMs: 30_000,
  phaseTimeoutMs: 600_000,
  now: 0,
};
/** What the workflow sees when a host activity threw `cause`. */
const failed = (cause: Error) =>
  new ActivityFailure('activity failed', 'provision', '1', RetryState.MAXIMUM_ATTEMPTS_REACHED, 'host h1', cause);

describe('failures of host activities', () => {
  it('maps an untyped error while provisioning to `internal`, which counts but does not break the host at once', () => {
    // A plain Error thrown by an activity reaches the workflow as an ApplicationFailure typed by its name.
    const result = resultOfFailure(
      failed(
        ApplicationFailure.create({
          type: 'TypeError',
          message: "Cannot read properties of undefined (reading 'sha256')",
        }),
      ),
      ctx,
    );
    expect(result).toEqual({
      kind: 'aborted',
      cause: 'internal',
      reason:
        "provisioning `install` on host h1 failed unexpectedly: Cannot read properties of undefined (reading 'sha256')",
    });
    expect(hostFaultOf(result)).toBe('counts');
  });

  it('keeps a typed provisioning failure immediate', () => {
    const result = resultOfFailure(
      failed(
        ApplicationFailure.create({
          type: ErrorType.Provision,
          message: 'could not prepare the work dir',
          nonRetryable: true,
        }),
      ),
      ctx,
    );
    expect(result).toEqual({ kind: 'aborted', cause: 'provision', reason: 'could not prepare the work dir' });
    expect(hostFaultOf(result)).toBe('immediate');
  });

  it('lets unexpected errors break a host only after N in a row', () => {
    const lab = newLab('salt', 3);
    registerHost(
      lab,
      { hostId: 'h1', instanceId: 'i', workerClasses: ['x'], capabilities: {}, hostname: 'h1', address: '127.0.0.1' },
      0,
    );
    const internal = resultOfFailure(failed(ApplicationFailure.create({ type: 'Error', message: 'boom' })), ctx);
    for (let n = 1; n <= 3; n++) {
      expect(hostState(lab.hosts.h1!)).toBe('idle');
      enqueue(
        lab,
        {
          requestId: `r${n}`,
          requester: `r${n}`,
          label: `r${n}`,
          priority: 50,
          recipes: [{ workerClass: 'x', hostRequires: [], excludedHosts: [], previousHosts: [] }],
        },
        n,
      );
      const token = allocate(lab, n)[0]!.leases[0]!.token;
      release(lab, 'h1', token, [{ jobId: `j${n}`, result: internal }], n);
    }
    expect(lab.hosts.h1!.broken).toMatchObject({
      source: 'aborts',
      reason: '3 consecutive aborts; last: provisioning `install` on host h1 failed unexpectedly: boom',
    });
  });
});
