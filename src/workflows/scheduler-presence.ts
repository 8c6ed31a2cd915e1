/**
 * @module presenceWatch: how the scheduler learns that a host went away, from Temporal
 * itself: each online host runs a presence activity on its own task queue, and a missed
 * heartbeat or a pickup timeout marks it offline (`watchPresence`; `forget` for a removed host).
 */
import { CancellationScope, log, proxyActivities } from '@temporalio/workflow';
import type { HostActivities } from '../activities/host/index.js';
import { hostTaskQueue } from '../domain/ids.js';
import { markOffline, type HostRecord } from '../domain/lab.js';
import { describePresenceFailure } from './failures.js';
import type { SchedulerRun } from './scheduler-run.js';
import { inBackground } from './signal.js';

export function presenceWatch(run: SchedulerRun) {
  const { lab } = run;
  /** hostId → instanceId whose presence activity runs in this run */
  const watched = new Map<string, string>();
  /** the presence activity of each watched host, to cancel when a newer instance registers */
  const presences = new Map<string, CancellationScope>();

  const watchPresence = (host: HostRecord) => {
    const { id, instanceId } = host;
    if (!host.online || watched.get(id) === instanceId) return;
    // A newer instance of the host registered: the older one's presence ends here, or it
    // would run on beside the new one for as long as the host lives.
    presences.get(id)?.cancel();
    watched.set(id, instanceId);
    const scope = new CancellationScope();
    presences.set(id, scope);
    const { holdPresence } = proxyActivities<HostActivities>({
      taskQueue: hostTaskQueue(id),
      // Temporal does not watch worker processes: a host that dies is noticed only when
      // its presence activity misses a heartbeat or is never picked up.
      heartbeatTimeout: run.config.presenceTimeoutMs,
      scheduleToStartTimeout: run.config.presencePickupMs,
      startToCloseTimeout: '3650 days',
      retry: { maximumAttempts: 1 },
    });
    inBackground(
      scope
        .run(() => holdPresence({ hostId: id, instanceId }))
        .then(
          () => lost(id, instanceId, 'host process shut down'),
          (err: unknown) =>
            lost(
              id,
              instanceId,
              describePresenceFailure(err, run.config.presenceTimeoutMs, run.config.presencePickupMs),
            ),
        ),
      `presence of ${id}`,
    );
  };

  const lost = (hostId: string, instanceId: string, reason: string) => {
    if (watched.get(hostId) === instanceId) watched.delete(hostId);
    if (markOffline(lab, hostId, instanceId, reason, Date.now())) {
      log.info('host offline', { hostId, reason });
      run.dirty = true;
    }
  };

  /** A removed host: its presence ends. */
  const forget = (hostId: string) => {
    watched.delete(hostId);
    presences.get(hostId)?.cancel();
    presences.delete(hostId);
  };

  return { watchPresence, forget };
}
