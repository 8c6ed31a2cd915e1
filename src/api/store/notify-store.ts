/**
 * @module The result store's part for telling the outside world: webhook subscriptions,
 * the delivery log and the audit log, in the same database (PostgreSQL or PGlite) as the
 * results. Its promises hold across API servers: an event reaches a delivery queue once
 * (a unique index on queue and event id: every server may see the same final view or
 * broken host, one row results), a queue is read in `seq` order, and an attempt is
 * recorded in the statement that may end the delivery.
 */
import type { WebhookEvent, WebhookFilter } from '../../domain/webhooks.js';
import { StoreError } from './result-store.js';
import type { Db } from './sql/db.js';

export interface Webhook {
  id: string;
  url: string;
  events: WebhookEvent[];
  filter: WebhookFilter;
  description?: string;
  createdAt: string;
  createdBy: string;
}

/** A subscription as the notifier uses it: with its secret, sealed. */
export interface WebhookWithSecret extends Webhook {
  secretSealed: string;
}

export type DeliveryTarget = 'webhook' | 'commit-status';
export type DeliveryState = 'pending' | 'delivered' | 'failed' | 'cancelled';

export interface DeliveryAttempt {
  attempt: number;
  at: string;
  /** the receiver's HTTP status, when it answered */
  statusCode?: number;
  /** why it did not count: no answer in time, connection refused, a non-2xx answer */
  error?: string;
  durationMs: number;
}

export interface Delivery {
  id: string;
  seq: number;
  queue: string;
  target: DeliveryTarget;
  webhookId?: string;
  eventId: string;
  event: string;
  url: string;
  state: DeliveryState;
  resendOf?: string;
  createdAt: string;
  attempts: DeliveryAttempt[];
  lastAttemptAt?: string;
  endedAt?: string;
}

export interface DeliveryWithBody extends Delivery {
  body: string;
}

export interface NewDelivery {
  id: string;
  queue: string;
  target: DeliveryTarget;
  webhookId?: string;
  eventId: string;
  event: string;
  url: string;
  body: string;
}

export interface AuditEntry {
  id: number;
  at: string;
  /** the token's name */
  actor: string;
  role: string;
  /** the client's address as the API saw it */
  address?: string;
  action: string;
  targetKind: string;
  targetId: string;
  details?: Record<string, unknown>;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

export interface AuditQuery {
  limit: number;
  targetKind?: string;
  targetId?: string;
  /** also entries of targets whose id starts with `<targetId>.` (a submission's jobs) */
  withChildren?: boolean;
  actor?: string;
  action?: string;
  /** entries older than this id (paging back) */
  before?: number;
}

export interface NotifyStore {
  createWebhook(hook: Webhook & { secretSealed: string }): Promise<Webhook>;
  listWebhooks(): Promise<Webhook[]>;
  getWebhook(id: string): Promise<WebhookWithSecret | undefined>;
  /** Deletes a subscription; its deliveries not made yet are cancelled (the log stays). False when there was none. */
  deleteWebhook(id: string): Promise<boolean>;
  /** Subscriptions to an event kind, with their sealed secrets. */
  webhooksFor(event: WebhookEvent): Promise<WebhookWithSecret[]>;
  /** Whether any subscription wants this event kind (cheap: asked on every poll). */
  hasWebhooksFor(event: WebhookEvent): Promise<boolean>;

  /** Enqueues deliveries; one whose event reached its queue already is left out. Returns those added. */
  enqueue(deliveries: NewDelivery[]): Promise<Delivery[]>;
  /** A queue's deliveries still to make, first first. */
  pendingDeliveries(queue: string, limit: number): Promise<{ id: string; seq: number }[]>;
  getDelivery(id: string): Promise<DeliveryWithBody | undefined>;
  /** Records an attempt; a 2xx answer ends the delivery as delivered. */
  recordAttempt(id: string, attempt: DeliveryAttempt, delivered: boolean): Promise<Delivery>;
  /** Ends a pending delivery for good (its retries ran out). */
  failDelivery(id: string, reason: string): Promise<Delivery>;
  /** Enqueues a delivery again, as a new row with the same event and body (same event id: receivers de-duplicate on it). */
  resend(id: string, newId: string): Promise<Delivery>;
  listDeliveries(query: {
    limit: number;
    webhookId?: string;
    queue?: string;
    state?: DeliveryState;
    before?: number;
  }): Promise<Delivery[]>;
  /** Queues with a delivery pending since before `olderThan` (whose workflow may have gone). */
  queuesWithPending(olderThan: Date): Promise<string[]>;

  addAudit(entry: NewAuditEntry): Promise<AuditEntry>;
  listAudit(query: AuditQuery): Promise<AuditEntry[]>;
}

interface WebhookRow {
  id: string;
  url: string;
  events: WebhookEvent[];
  filter: WebhookFilter;
  description: string | null;
  secret_sealed: string;
  created_at: string;
  created_by: string;
}

const webhookOf = (r: WebhookRow): Webhook => ({
  id: r.id,
  url: r.url,
  events: r.events,
  filter: r.filter,
  ...(r.description !== null ? { description: r.description } : {}),
  createdAt: r.created_at,
  createdBy: r.created_by,
});

interface DeliveryRow {
  id: string;
  seq: number;
  queue: string;
  target: DeliveryTarget;
  webhook_id: string | null;
  event_id: string;
  event: string;
  url: string;
  state: DeliveryState;
  resend_of: string | null;
  created_at: string;
  attempts: DeliveryAttempt[];
  last_attempt_at: string | null;
  ended_at: string | null;
  body?: string;
}

const DELIVERY =
  'id, seq, queue, target, webhook_id, event_id, event, url, state, resend_of, created_at, attempts, last_attempt_at, ended_at';

function deliveryOf(r: DeliveryRow): Delivery {
  const d: Delivery = {
    id: r.id,
    seq: Number(r.seq),
    queue: r.queue,
    target: r.target,
    eventId: r.event_id,
    event: r.event,
    url: r.url,
    state: r.state,
    createdAt: r.created_at,
    attempts: r.attempts,
  };
  if (r.webhook_id !== null) d.webhookId = r.webhook_id;
  if (r.resend_of !== null) d.resendOf = r.resend_of;
  if (r.last_attempt_at !== null) d.lastAttemptAt = r.last_attempt_at;
  if (r.ended_at !== null) d.endedAt = r.ended_at;
  return d;
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  role: string;
  address: string | null;
  action: string;
  target_kind: string;
  target_id: string;
  details: Record<string, unknown> | null;
}

function auditOf(r: AuditRow): AuditEntry {
  const e: AuditEntry = {
    id: Number(r.id),
    at: r.at,
    actor: r.actor,
    role: r.role,
    action: r.action,
    targetKind: r.target_kind,
    targetId: r.target_id,
  };
  if (r.address !== null) e.address = r.address;
  if (r.details !== null) e.details = r.details;
  return e;
}

export class SqlNotifyStore implements NotifyStore {
  constructor(private readonly db: Db) {}

  // ---- subscriptions ----

  async createWebhook(hook: Webhook & { secretSealed: string }): Promise<Webhook> {
    const [row] = await this.db.query<WebhookRow>(
      `INSERT INTO webhooks (id, url, events, filter, description, secret_sealed, created_at, created_by) VALUES ($1, $2, $3::text[], $4::jsonb, $5, $6, $7, $8)
       RETURNING id, url, events, filter, description, secret_sealed, created_at, created_by`,
      [
        hook.id,
        hook.url,
        hook.events,
        JSON.stringify(hook.filter),
        hook.description ?? null,
        hook.secretSealed,
        hook.createdAt,
        hook.createdBy,
      ],
    );
    return webhookOf(row!);
  }

  async listWebhooks(): Promise<Webhook[]> {
    return (await this.db.query<WebhookRow>('SELECT * FROM webhooks ORDER BY created_at, id')).map(webhookOf);
  }

  async getWebhook(id: string): Promise<WebhookWithSecret | undefined> {
    const [row] = await this.db.query<WebhookRow>('SELECT * FROM webhooks WHERE id = $1', [id]);
    return row && { ...webhookOf(row), secretSealed: row.secret_sealed };
  }

  async deleteWebhook(id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const gone = await tx.query('DELETE FROM webhooks WHERE id = $1 RETURNING id', [id]);
      if (gone.length === 0) return false;
      await tx.query(
        "UPDATE webhook_deliveries SET state = 'cancelled', ended_at = now() WHERE webhook_id = $1 AND state = 'pending'",
        [id],
      );
      return true;
    });
  }

  async webhooksFor(event: WebhookEvent): Promise<WebhookWithSecret[]> {
    const rows = await this.db.query<WebhookRow>(
      'SELECT * FROM webhooks WHERE $1 = ANY(events) ORDER BY created_at, id',
      [event],
    );
    return rows.map((r) => ({ ...webhookOf(r), secretSealed: r.secret_sealed }));
  }

  async hasWebhooksFor(event: WebhookEvent): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM webhooks WHERE $1 = ANY(events) LIMIT 1', [event])).length > 0;
  }

  // ---- deliveries ----

  async enqueue(deliveries: NewDelivery[]): Promise<Delivery[]> {
    if (deliveries.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const added: Delivery[] = [];
      for (const d of deliveries) {
        const [row] = await tx.query<DeliveryRow>(
          `INSERT INTO webhook_deliveries (id, queue, target, webhook_id, event_id, event, url, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (queue, event_id) WHERE resend_of IS NULL DO NOTHING RETURNING ${DELIVERY}`,
          [d.id, d.queue, d.target, d.webhookId ?? null, d.eventId, d.event, d.url, d.body],
        );
        if (row) added.push(deliveryOf(row));
      }
      return added;
    });
  }

  async pendingDeliveries(queue: string, limit: number): Promise<{ id: string; seq: number }[]> {
    const rows = await this.db.query<{ id: string; seq: number }>(
      "SELECT id, seq FROM webhook_deliveries WHERE queue = $1 AND state = 'pending' ORDER BY seq LIMIT $2",
      [queue, limit],
    );
    return rows.map((r) => ({ id: r.id, seq: Number(r.seq) }));
  }

  async getDelivery(id: string): Promise<DeliveryWithBody | undefined> {
    const [row] = await this.db.query<DeliveryRow & { body: string }>(
      `SELECT ${DELIVERY}, body FROM webhook_deliveries WHERE id = $1`,
      [id],
    );
    return row && { ...deliveryOf(row), body: row.body };
  }

  async recordAttempt(id: string, attempt: DeliveryAttempt, delivered: boolean): Promise<Delivery> {
    // An attempt of a delivery that ended meanwhile (cancelled, or delivered by an
    // earlier attempt whose answer came late) is logged, and changes nothing else.
    const [row] = await this.db.query<DeliveryRow>(
      `UPDATE webhook_deliveries SET attempts = attempts || $2::jsonb, last_attempt_at = $3,
         state = CASE WHEN state = 'pending' AND $4 THEN 'delivered' ELSE state END,
         ended_at = CASE WHEN state = 'pending' AND $4 THEN now() ELSE ended_at END
       WHERE id = $1 RETURNING ${DELIVERY}`,
      [id, JSON.stringify([attempt]), attempt.at, delivered],
    );
    if (!row) throw new StoreError('not-found', `no delivery ${id}`);
    return deliveryOf(row);
  }

  async failDelivery(id: string, reason: string): Promise<Delivery> {
    const [row] = await this.db.query<DeliveryRow>(
      `UPDATE webhook_deliveries SET state = CASE WHEN state = 'pending' THEN 'failed' ELSE state END,
         ended_at = COALESCE(ended_at, now()),
         attempts = CASE WHEN state = 'pending' THEN attempts || $2::jsonb ELSE attempts END
       WHERE id = $1 RETURNING ${DELIVERY}`,
      [id, JSON.stringify([{ attempt: 0, at: new Date().toISOString(), error: `given up: ${reason}`, durationMs: 0 }])],
    );
    if (!row) throw new StoreError('not-found', `no delivery ${id}`);
    return deliveryOf(row);
  }

  async resend(id: string, newId: string): Promise<Delivery> {
    const [row] = await this.db.query<DeliveryRow>(
      `INSERT INTO webhook_deliveries (id, queue, target, webhook_id, event_id, event, url, body, resend_of)
       SELECT $2, queue, target, webhook_id, event_id, event, url, body, id FROM webhook_deliveries WHERE id = $1
       RETURNING ${DELIVERY}`,
      [id, newId],
    );
    if (!row) throw new StoreError('not-found', `no delivery ${id}`);
    return deliveryOf(row);
  }

  async listDeliveries(q: {
    limit: number;
    webhookId?: string;
    queue?: string;
    state?: DeliveryState;
    before?: number;
  }): Promise<Delivery[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (q.webhookId) where.push(`webhook_id = ${param(q.webhookId)}`);
    if (q.queue) where.push(`queue = ${param(q.queue)}`);
    if (q.state) where.push(`state = ${param(q.state)}`);
    if (q.before !== undefined) where.push(`seq < ${param(q.before)}`);
    const rows = await this.db.query<DeliveryRow>(
      `SELECT ${DELIVERY} FROM webhook_deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${param(q.limit)}`,
      params,
    );
    return rows.map(deliveryOf);
  }

  async queuesWithPending(olderThan: Date): Promise<string[]> {
    const rows = await this.db.query<{ queue: string }>(
      "SELECT DISTINCT queue FROM webhook_deliveries WHERE state = 'pending' AND created_at < $1 ORDER BY queue LIMIT 1000",
      [olderThan.toISOString()],
    );
    return rows.map((r) => r.queue);
  }

  // ---- audit ----

  async addAudit(e: NewAuditEntry): Promise<AuditEntry> {
    const [row] = await this.db.query<AuditRow>(
      'INSERT INTO audit_log (actor, role, address, action, target_kind, target_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING *',
      [
        e.actor,
        e.role,
        e.address ?? null,
        e.action,
        e.targetKind,
        e.targetId,
        e.details === undefined ? null : JSON.stringify(e.details),
      ],
    );
    return auditOf(row!);
  }

  async listAudit(q: AuditQuery): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (q.targetKind) where.push(`target_kind = ${param(q.targetKind)}`);
    if (q.targetId) {
      where.push(
        q.withChildren
          ? `(target_id = ${param(q.targetId)} OR starts_with(target_id, ${param(`${q.targetId}.`)}))`
          : `target_id = ${param(q.targetId)}`,
      );
    }
    if (q.actor) where.push(`actor = ${param(q.actor)}`);
    if (q.action) where.push(`action = ${param(q.action)}`);
    if (q.before !== undefined) where.push(`id < ${param(q.before)}`);
    const rows = await this.db.query<AuditRow>(
      `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${param(q.limit)}`,
      params,
    );
    return rows.map(auditOf);
  }
}
