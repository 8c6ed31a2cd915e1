/**
 * @module webhookDeliveryWorkflow: one workflow per delivery queue (a webhook
 * subscription, or one submission's commit statuses), id `delivery-<queue>`. The API
 * records each delivery in the result store, then signal-with-starts the queue's
 * workflow with `wake`; the workflow reads the queue's pending deliveries from the store
 * in order and makes them one at a time, each as an activity with the delivery's retry
 * policy (backoff to an hour, for a day). One workflow per queue, rather than one per
 * delivery, is what keeps a subscription's events in order: the next delivery starts only
 * when the one before it was taken or given up. Reading the queue from the store, rather
 * than carrying payloads in signals, keeps secrets and bodies out of Temporal's history,
 * makes a lost or repeated wake harmless, and lets the API restart a queue whose
 * workflow is gone (it starts it if not running: the store says what is left). An empty
 * queue's workflow waits a while for more, then ends.
 */
import {
  ActivityFailure,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeliveryActivities } from '../activities/control/webhooks.js';
import { ErrorType } from '../domain/errors.js';
import {
  deliveryStatusQuery,
  wakeSignal,
  type DeliveryQueueInput,
  type DeliveryQueueStatus,
} from './webhook-delivery-messages.js';

const DEFAULT_IDLE_MS = 60_000;
const PAGE = 50;

/** The store's side (through the API): retried until the API answers. */
const queue = proxyActivities<DeliveryActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', nonRetryableErrorTypes: [ErrorType.InvalidInput] },
});

export async function webhookDeliveryWorkflow(input: DeliveryQueueInput): Promise<DeliveryQueueStatus> {
  const { config } = input;
  const send = proxyActivities<DeliveryActivities>({
    // The attempt's own cut-off is timeoutMs (the activity aborts the request); this is the backstop.
    startToCloseTimeout: config.timeoutMs + 15_000,
    scheduleToCloseTimeout: config.retryForMs,
    retry: {
      initialInterval: config.retryInitialMs,
      backoffCoefficient: 2,
      maximumInterval: config.retryMaxMs,
      nonRetryableErrorTypes: [ErrorType.InvalidInput],
    },
  });
  const status: DeliveryQueueStatus = {
    queue: input.queue,
    delivered: input.delivered ?? 0,
    failed: input.failed ?? 0,
  };
  let wakes = 0;
  setHandler(wakeSignal, () => {
    wakes += 1;
  });
  setHandler(deliveryStatusQuery, () => status);

  for (;;) {
    const seen = wakes;
    const pending = await queue.pendingDeliveries({ queue: input.queue, limit: PAGE });
    for (const d of pending) {
      status.current = d.id;
      try {
        await send.deliverOnce({ deliveryId: d.id, timeoutMs: config.timeoutMs });
        status.delivered += 1;
      } catch (err) {
        if (isCancellation(err)) throw err;
        // Its retries ran out (or it cannot be made at all): the log says so, the queue goes on.
        const reason = err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
        await queue.giveUpDelivery({ deliveryId: d.id, reason });
        status.failed += 1;
      }
      delete status.current;
    }
    if (pending.length === 0) {
      const woke = await condition(() => wakes > seen, input.idleMs ?? DEFAULT_IDLE_MS);
      // A wake that came with the timer's firing counts: it may announce a delivery.
      if (!woke && wakes === seen) return status;
    }
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof webhookDeliveryWorkflow>({
        ...input,
        delivered: status.delivered,
        failed: status.failed,
      });
    }
  }
}
