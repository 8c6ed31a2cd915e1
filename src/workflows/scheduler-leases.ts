/**
 * @module The scheduler's side of a lease once it is decided: `leaseAnswers` signals a grant
 * or a denial to the requesting workflow (a recipe set or a batch run: lease-client.ts), and
 * takes back the leases of a requester that is gone; `leaseChecks` now and then asks the
 * holder of every lease held for a while whether it still runs.
 */
import { condition, getExternalWorkflowHandle, log } from '@temporalio/workflow';
import { DEFAULT_POOL } from '../domain/ids.js';
import { release, type Grant } from '../domain/lab.js';
import { leaseCheckSignal, leaseDeniedSignal, leaseGrantedSignal } from './scheduler-messages.js';
import type { SchedulerRun } from './scheduler-run.js';
import { signalIfRunning } from './signal.js';

/** Grants and denials, signalled to the requester. */
export function leaseAnswers(run: SchedulerRun) {
  const { lab, pool, outbound } = run;

  const deny = (requester: string, requestId: string, reason: string) =>
    outbound.add(
      signalIfRunning(getExternalWorkflowHandle(requester), leaseDeniedSignal, {
        requestId,
        reason: pool === DEFAULT_POOL ? reason : `${reason} (pool ${pool})`,
      }),
    );

  const grant = (g: Grant) =>
    outbound.add(
      signalIfRunning(getExternalWorkflowHandle(g.requester), leaseGrantedSignal, {
        requestId: g.requestId,
        leases: g.leases,
      }).then((delivered) => {
        if (delivered) return;
        // The requester is gone (cancelled or terminated): nobody will release these leases.
        log.warn('requester gone; releasing its leases', { requester: g.requester });
        for (const l of g.leases) release(lab, l.hostId, l.token, [], Date.now());
        run.dirty = true;
      }),
    );

  return { deny, grant };
}

/**
 * A lease normally ends with a release from its chain; a chain or recipe set terminated
 * in Temporal Web never sends one. So the holder of every lease held for a while is
 * signalled: the signal fails to deliver when the holder has ended, and the lease comes
 * back. One signal per lease and interval, no state beyond the lease itself.
 */
export function leaseChecks(run: SchedulerRun) {
  const { lab, outbound } = run;
  let leaseCheckChanged = false;
  const checkLeasesNowAndThen = async () => {
    for (;;) {
      leaseCheckChanged = false;
      if (await condition(() => leaseCheckChanged, run.config.leaseCheckMs)) continue;
      const now = Date.now();
      for (const host of Object.values(lab.hosts)) {
        const lease = host.lease;
        if (!lease || now - lease.since < run.config.leaseCheckMs) continue;
        outbound.add(
          signalIfRunning(getExternalWorkflowHandle(lease.requester), leaseCheckSignal, {
            requestId: lease.requestId,
            hostId: host.id,
          }).then((delivered) => {
            if (delivered || !release(lab, host.id, lease.token, [], Date.now()).released) return;
            log.warn('lease holder gone; took its lease back', { hostId: host.id, requester: lease.requester });
            run.dirty = true;
          }),
        );
      }
    }
  };
  /** The interval changed: the next check waits for the new one. */
  const intervalChanged = () => {
    leaseCheckChanged = true;
  };
  return { checkLeasesNowAndThen, intervalChanged };
}
