/**
 * @module holdPresence: a long activity the scheduler keeps running on every online host.
 * It only heartbeats. If the host dies, the heartbeat stops and Temporal tells the
 * scheduler; if the host shuts down, it returns "shutdown"; if the scheduler stopped
 * watching (it moved on, or decided the host was gone while it was frozen), the host
 * registers again.
 */
import { Context, CancelledFailure } from '@temporalio/activity';
import type { HostDeps } from './deps.js';

export function createHoldPresence(deps: HostDeps) {
  return async function holdPresence(input: { hostId: string; instanceId: string }): Promise<'shutdown'> {
    const ctx = Context.current();
    const shuttingDown = new Promise((resolve) => deps.shutdown.addEventListener('abort', resolve, { once: true }));
    while (!deps.shutdown.aborted) {
      ctx.heartbeat();
      try {
        await Promise.race([ctx.sleep(1_000), shuttingDown]);
      } catch (err) {
        if (err instanceof CancelledFailure && !deps.shutdown.aborted) {
          deps.log.info('scheduler stopped watching this host; registering again', { reason: String(ctx.cancellationSignal.reason ?? '') });
          deps.onPresenceLost(input.instanceId);
        }
        throw err;
      }
    }
    return 'shutdown';
  };
}
