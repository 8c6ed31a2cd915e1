/**
 * @module Messages of the delivery workflow (webhook-delivery.ts), which the API uses to
 * start or wake a delivery queue. No workflow code here.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

/** How deliveries are made; the API passes its configuration at start. */
export interface DeliveryConfig {
  /** a receiver that has not answered within this is cut off (the attempt failed) */
  timeoutMs: number;
  /** the retry policy of one delivery: the first wait, doubling up to retryMaxMs, for retryForMs in all */
  retryInitialMs: number;
  retryMaxMs: number;
  retryForMs: number;
}

export interface DeliveryQueueInput {
  /** `wh-<webhook id>` or `cs-<submission id>` (src/domain/webhooks.ts) */
  queue: string;
  config: DeliveryConfig;
  /** how long an empty queue's workflow waits for more before it ends (a new delivery starts it again) */
  idleMs?: number;
  /** carried over continue-as-new */
  delivered?: number;
  failed?: number;
}

/** There is something new in the queue: look again. */
export const wakeSignal = defineSignal('wake');

export interface DeliveryQueueStatus {
  queue: string;
  /** the delivery being made now, and its attempt so far */
  current?: string;
  delivered: number;
  failed: number;
}
export const deliveryStatusQuery = defineQuery<DeliveryQueueStatus>('deliveryStatus');
