/**
 * @module The API's webhook, delivery and audit endpoints for the CLI and the control
 * worker, over TestbayClient (kept apart so its own file stays the client of the rest).
 */
import type { z } from 'zod';
import type { deliveryRequest } from './routes/notify-schemas.js';
import type { TestbayClient } from './client.js';
import type { WebhookInput } from '../domain/webhooks.js';
import type { AuditEntry, Delivery, DeliveryAttempt, DeliveryState, Webhook } from './store/notify-store.js';

/** What the control worker's activity needs to make one attempt (the API signs it). */
export type DeliveryRequest = z.infer<typeof deliveryRequest>;

const q = (query: Record<string, string | number | boolean | undefined>) => {
  const params = new URLSearchParams(
    Object.entries(query).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, String(v)]])),
  );
  const text = params.toString();
  return text ? `?${text}` : '';
};
const enc = encodeURIComponent;

export function notifyClient(api: TestbayClient) {
  return {
    addWebhook: (input: WebhookInput) => api.call<{ webhook: Webhook; secret: string }>('POST', '/webhooks', input),
    webhooks: () => api.call<{ webhooks: Webhook[] }>('GET', '/webhooks'),
    deleteWebhook: (id: string) => api.call<void>('DELETE', `/webhooks/${enc(id)}`),
    deliveries: (query: { webhook?: string; queue?: string; state?: DeliveryState; limit?: number } = {}) =>
      api.call<{ deliveries: Delivery[] }>('GET', `/deliveries${q(query)}`),
    resend: (id: string) => api.call<{ delivery: Delivery }>('POST', `/deliveries/${enc(id)}/resend`, {}),
    audit: (
      query: {
        target?: string;
        children?: boolean;
        actor?: string;
        action?: string;
        limit?: number;
        before?: number;
      } = {},
    ) => api.call<{ entries: AuditEntry[] }>('GET', `/audit${q(query)}`),

    // control worker
    pendingDeliveries: (queue: string, limit: number) =>
      api.call<{ deliveries: { id: string; seq: number }[] }>(
        'GET',
        `/internal/delivery-queues/${enc(queue)}/pending${q({ limit })}`,
      ),
    deliveryRequest: (id: string) => api.call<DeliveryRequest>('GET', `/internal/deliveries/${enc(id)}/request`),
    recordAttempt: (id: string, attempt: DeliveryAttempt, delivered: boolean) =>
      api.call<Delivery>('POST', `/internal/deliveries/${enc(id)}/attempts`, { ...attempt, delivered }),
    giveUpDelivery: (id: string, reason: string) =>
      api.call<Delivery>('POST', `/internal/deliveries/${enc(id)}/give-up`, { reason }),
  };
}
export type NotifyClient = ReturnType<typeof notifyClient>;
