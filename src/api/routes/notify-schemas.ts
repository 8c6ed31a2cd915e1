/**
 * @module Shapes of the webhook, delivery and audit endpoints (for the routes and the
 * OpenAPI document), beside api-schemas.ts.
 */
import { z } from 'zod';
import { webhookFilter, WEBHOOK_EVENTS } from '../../domain/webhooks.js';

const iso = z.string().describe('ISO 8601 time');
const notifyId = (prefix: string) => z.string().regex(new RegExp(`^${prefix}[a-z0-9]{6,40}$`), `an id like ${prefix}…`);

export const webhookIdParam = notifyId('w');
export const deliveryIdParam = notifyId('d');
export const deliveryQueueParam = z.string().regex(/^(wh|cs)-[a-z0-9]{6,40}$/, 'wh-<webhook id> or cs-<submission id>');

export const webhook = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  filter: webhookFilter,
  description: z.string().optional(),
  createdAt: iso,
  createdBy: z.string().describe("the token's name"),
});
export const webhookList = z.object({ webhooks: z.array(webhook) });
export const webhookCreated = z.object({
  webhook,
  secret: z.string().describe('the HMAC secret of X-Testbay-Signature: shown this once, never again'),
});

const DELIVERY_STATES = ['pending', 'delivered', 'failed', 'cancelled'] as const;
export const deliveryAttempt = z.object({
  attempt: z.number().int().min(0).describe('1, 2, …; 0 for the entry that says it was given up'),
  at: iso,
  statusCode: z.number().int().optional().describe("the receiver's HTTP status"),
  error: z
    .string()
    .optional()
    .describe('why it did not count: cut off after the timeout, connection refused, a non-2xx answer'),
  durationMs: z.number().int().min(0),
});
export const delivery = z.object({
  id: z.string(),
  seq: z.number().int().describe('its place in its queue: deliveries of a queue go out in this order'),
  queue: z.string(),
  target: z.enum(['webhook', 'commit-status']),
  webhookId: z.string().optional(),
  eventId: z.string().describe('the same for every delivery and resend of one event: receivers de-duplicate on it'),
  event: z.string(),
  url: z.string(),
  state: z.enum(DELIVERY_STATES),
  resendOf: z.string().optional(),
  createdAt: iso,
  attempts: z.array(deliveryAttempt),
  lastAttemptAt: iso.optional(),
  endedAt: iso.optional(),
});
export const deliveryList = z.object({ deliveries: z.array(delivery) });
export const deliveryResent = z.object({ delivery });
export const deliveriesQuery = z.strictObject({
  webhook: webhookIdParam.optional(),
  queue: deliveryQueueParam.optional(),
  state: z.enum(DELIVERY_STATES).optional(),
  before: z.coerce.number().int().optional().describe('deliveries before this seq (paging back)'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const auditEntry = z.object({
  id: z.number().int(),
  at: iso,
  actor: z.string().describe("the token's name"),
  role: z.string(),
  address: z.string().optional().describe("the client's address"),
  action: z.string(),
  targetKind: z.string(),
  targetId: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export const auditList = z.object({ entries: z.array(auditEntry) });
export const auditQuery = z.strictObject({
  target: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('a target id: a submission, job, host, webhook or delivery id'),
  kind: z.enum(['submission', 'job', 'host', 'webhook', 'delivery']).optional(),
  children: z.enum(['0', '1', 'true', 'false']).optional().describe("with target a submission: its jobs' entries too"),
  actor: z.string().min(1).max(200).optional(),
  action: z.string().min(1).max(100).optional(),
  before: z.coerce.number().int().optional().describe('entries before this id (paging back)'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

// control worker
export const pendingQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });
export const pendingList = z.object({ deliveries: z.array(z.object({ id: z.string(), seq: z.number().int() })) });
export const deliveryRequest = z.object({
  id: z.string(),
  state: z.enum(DELIVERY_STATES),
  target: z.enum(['webhook', 'commit-status']),
  url: z.string(),
  headers: z.record(z.string(), z.string()).describe('signed: X-Testbay-Signature, -Event, -Event-Id, -Delivery'),
  body: z.string(),
  recordedAttempts: z
    .array(z.number().int())
    .describe('the attempt numbers already in its log: one a stopped worker never recorded is recorded by the next'),
});
export const attemptBody = deliveryAttempt.extend({ delivered: z.boolean() }).strict();
export const giveUpBody = z.strictObject({ reason: z.string().max(4000) });
