/**
 * @module Migration 3: webhook subscriptions (their secrets sealed with the lab's payload
 * key), the delivery log (one row per delivery of an event to a queue, its attempts, in
 * queue order by `seq`) and the audit log of what people did.
 */
import type { Migration } from './migrations.js';

export const NOTIFY_MIGRATION: Migration = {
  version: 3,
  name: 'webhooks, deliveries, audit log',
  statements: [
    `CREATE TABLE webhooks (
      id text PRIMARY KEY,
      url text NOT NULL,
      events text[] NOT NULL,
      filter jsonb NOT NULL,
      description text,
      secret_sealed text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      created_by text NOT NULL
    )`,
    // One row per delivery: of an event to a subscription (target webhook) or of a
    // commit status (target commit-status). The body is what is signed and sent, fixed at
    // enqueue so every attempt sends the same bytes. A resend is a row of its own.
    `CREATE TABLE webhook_deliveries (
      id text PRIMARY KEY,
      seq bigserial NOT NULL,
      queue text NOT NULL,
      target text NOT NULL,
      webhook_id text,
      event_id text NOT NULL,
      event text NOT NULL,
      url text NOT NULL,
      body text NOT NULL,
      state text NOT NULL DEFAULT 'pending',
      resend_of text,
      created_at timestamptz NOT NULL DEFAULT now(),
      attempts jsonb NOT NULL DEFAULT '[]',
      last_attempt_at timestamptz,
      ended_at timestamptz
    )`,
    // An event reaches a queue once, whichever API servers saw it (resends aside).
    'CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (queue, event_id) WHERE resend_of IS NULL',
    "CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (queue, seq) WHERE state = 'pending'",
    'CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq DESC)',
    'CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (seq DESC)',
    `CREATE TABLE audit_log (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT now(),
      actor text NOT NULL,
      role text NOT NULL,
      address text,
      action text NOT NULL,
      target_kind text NOT NULL,
      target_id text NOT NULL,
      details jsonb
    )`,
    'CREATE INDEX audit_log_target ON audit_log (target_kind, target_id, id DESC)',
    'CREATE INDEX audit_log_actor ON audit_log (actor, id DESC)',
  ],
};
