/**
 * @module holdPresence: a long activity the scheduler keeps running on every online host.
 * It only heartbeats. If the host dies, the heartbeat stops and Temporal tells the
 * scheduler; if the host shuts down, it returns "shutdown"; if the scheduler stopped
 * watching (it moved on, or decided the host was gone while it was frozen), the host
 * registers again.
 *
 * Every presence is an activity of one workflow, the pool's scheduler, and Temporal writes a
 * workflow's state on each heartbeat of its activities: a host heartbeating every second
 * cost a lab of 1,000 hosts 1,000 writes a second to one workflow, which the Temporal
 * server could not keep up with (bench/scale). So a presence heartbeats three times per
 * heartbeat timeout, not every second: enough for a missed beat or two, and the
 * scheduler's cancellation still arrives within a third of the timeout.
 */
import { Context, CancelledFailure } from '@temporalio/activity';
import type { HostDeps } from './deps.js';

export function createHoldPresence(deps: HostDeps) {
  return async function holdPresence(input: { hostId: string; instanceId: string }): Promise<'shutdown'> {
    const ctx = Context.current();
    deps.onPresenceStarted?.(input.instanceId);
    const beatMs = presenceBeatMs(ctx.info.heartbeatTimeoutMs);
    const shuttingDown = new Promise((resolve) => deps.shutdown.addEventListener('abort', resolve, { once: true }));
    while (!deps.shutdown.aborted) {
      ctx.heartbeat();
      try {
        await Promise.race([ctx.sleep(beatMs), shuttingDown]);
      } catch (err) {
        if (err instanceof CancelledFailure && !deps.shutdown.aborted) {
          deps.log.info('scheduler stopped watching this host; registering again', {
            reason: String(ctx.cancellationSignal.reason ?? ''),
          });
          deps.onPresenceLost(input.instanceId);
        }
        throw err;
      }
    }
    return 'shutdown';
  };
}

/** How often a presence heartbeats: three times per heartbeat timeout, at least once a second. */
export function presenceBeatMs(heartbeatTimeoutMs: number | undefined): number {
  return Math.max(1_000, Math.floor((heartbeatTimeoutMs ?? 3_000) / 3));
}
