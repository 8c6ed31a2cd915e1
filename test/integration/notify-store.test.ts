/**
 * The result store's contract for webhooks, deliveries and the audit log, on every
 * engine (PGlite, PostgreSQL, PostgreSQL with S3): an event reaches a queue once, even
 * from two API servers at once on one PostgreSQL; a queue's pending deliveries come in
 * order; an attempt that answered 2xx ends a delivery, a late one changes nothing; a
 * deleted subscription cancels what it had pending; a resend is a new row with the same
 * event; the audit log pages back and finds a submission's jobs with it; retention deletes
 * ended deliveries and old audit entries.
 */
import fs from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { openResultStore } from '../../src/api/store/open-store.js';
import { SqlNotifyStore, type NewDelivery } from '../../src/api/store/notify-store.js';
import type { SqlResultStore } from '../../src/api/store/sql-store.js';
import type { Config } from '../../src/config.js';
import { ENGINES, engineConfig, type EngineName } from '../helpers/store-engines.js';

const opened: { store: SqlResultStore; dir: string }[] = [];
async function openStore(
  engine: EngineName,
  shared?: { config: Config },
): Promise<{ store: SqlResultStore; notify: SqlNotifyStore; config: Config }> {
  const e = shared ?? (await engineConfig(engine));
  const store = await openResultStore(e.config, undefined, { sweepMs: 0 });
  opened.push({ store, dir: e.config.dataDir });
  return { store, notify: new SqlNotifyStore(store.db), config: e.config };
}
afterEach(async () => {
  for (const { store, dir } of opened.splice(0)) {
    await store.close().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
});

let n = 0;
const id = (prefix: 'w' | 'd') => `${prefix}${Date.now().toString(36)}x${(n++).toString(36).padStart(4, '0')}`;

const hook = (events: ('submission.done' | 'job.done' | 'host.broken')[] = ['job.done']) => ({
  id: id('w'),
  url: 'http://127.0.0.1:9/hook',
  events,
  filter: {},
  createdAt: new Date().toISOString(),
  createdBy: 'operator',
  secretSealed: 'sealed:v1:xyz',
});
const delivery = (webhookId: string, eventId: string, body = '{}'): NewDelivery => ({
  id: id('d'),
  queue: `wh-${webhookId}`,
  target: 'webhook',
  webhookId,
  eventId,
  event: 'job.done',
  url: 'http://127.0.0.1:9/hook',
  body,
});

describe.each(ENGINES)('webhooks, deliveries and audit on %s', (engine) => {
  it('keeps subscriptions with their sealed secret apart from what is listed', async () => {
    const { notify } = await openStore(engine);
    const a = await notify.createWebhook({
      ...hook(['job.done', 'host.broken']),
      filter: { result: ['failed'] },
      description: 'ci',
    });
    const b = await notify.createWebhook(hook(['submission.done']));
    expect(await notify.listWebhooks()).toEqual([a, b]);
    expect(JSON.stringify(await notify.listWebhooks())).not.toContain('sealed:v1');
    expect((await notify.getWebhook(a.id))?.secretSealed).toBe('sealed:v1:xyz');
    expect((await notify.webhooksFor('host.broken')).map((w) => w.id)).toEqual([a.id]);
    expect(await notify.hasWebhooksFor('submission.done')).toBe(true);
    expect(await notify.hasWebhooksFor('host.broken')).toBe(true);
    expect(a).toMatchObject({ filter: { result: ['failed'] }, description: 'ci', createdBy: 'operator' });
  });

  it('enqueues an event once per queue and reads a queue in order', async () => {
    const { notify } = await openStore(engine);
    const w = await notify.createWebhook(hook());
    const first = await notify.enqueue([delivery(w.id, 'job.done:a.1', 'one'), delivery(w.id, 'job.done:a.2', 'two')]);
    expect(first.map((d) => d.eventId)).toEqual(['job.done:a.1', 'job.done:a.2']);
    // The same event again (another API server saw it too): nothing new.
    expect(await notify.enqueue([delivery(w.id, 'job.done:a.1', 'one again')])).toEqual([]);
    await notify.enqueue([delivery(w.id, 'job.done:a.3', 'three')]);
    const pending = await notify.pendingDeliveries(`wh-${w.id}`, 10);
    expect(pending.map((p) => p.id)).toEqual([...first.map((d) => d.id), expect.any(String)]);
    expect(pending.map((p) => p.seq)).toEqual([...pending.map((p) => p.seq)].sort((x, y) => x - y));
    expect((await notify.getDelivery(first[0]!.id))?.body).toBe('one');
    expect(await notify.pendingDeliveries(`wh-${w.id}`, 1)).toHaveLength(1);
  });

  it('records attempts: a 2xx ends the delivery, a late attempt is logged and changes nothing', async () => {
    const { notify } = await openStore(engine);
    const w = await notify.createWebhook(hook());
    const [d] = await notify.enqueue([delivery(w.id, 'job.done:b.1')]);
    const refused = await notify.recordAttempt(
      d!.id,
      { attempt: 1, at: new Date().toISOString(), statusCode: 503, error: 'answered 503', durationMs: 12 },
      false,
    );
    expect(refused).toMatchObject({ state: 'pending', attempts: [{ attempt: 1, statusCode: 503 }] });
    const taken = await notify.recordAttempt(
      d!.id,
      { attempt: 2, at: new Date().toISOString(), statusCode: 200, durationMs: 8 },
      true,
    );
    expect(taken.state).toBe('delivered');
    expect(taken.endedAt).toBeTruthy();
    const late = await notify.recordAttempt(
      d!.id,
      { attempt: 3, at: new Date().toISOString(), error: 'cut off', durationMs: 10_000 },
      false,
    );
    expect(late.state).toBe('delivered');
    expect(late.attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(await notify.pendingDeliveries(`wh-${w.id}`, 10)).toEqual([]);
    // Giving up a delivered one changes nothing; a pending one fails, saying why.
    expect((await notify.failDelivery(d!.id, 'late')).state).toBe('delivered');
    const [e] = await notify.enqueue([delivery(w.id, 'job.done:b.2')]);
    const failed = await notify.failDelivery(e!.id, 'retries ran out');
    expect(failed.state).toBe('failed');
    expect(failed.attempts.at(-1)?.error).toBe('given up: retries ran out');
    await expect(
      notify.recordAttempt('dnothere0', { attempt: 1, at: new Date().toISOString(), durationMs: 1 }, true),
    ).rejects.toEqual(expect.objectContaining({ code: 'not-found' }));
  });

  it('resends as a new row with the same event, and a deleted subscription cancels what it had pending', async () => {
    const { notify } = await openStore(engine);
    const w = await notify.createWebhook(hook());
    const [d] = await notify.enqueue([delivery(w.id, 'job.done:c.1', 'the body')]);
    await notify.recordAttempt(
      d!.id,
      { attempt: 1, at: new Date().toISOString(), statusCode: 204, durationMs: 3 },
      true,
    );
    const again = await notify.resend(d!.id, id('d'));
    expect(again).toMatchObject({ eventId: 'job.done:c.1', resendOf: d!.id, state: 'pending', attempts: [] });
    expect((await notify.getDelivery(again.id))?.body).toBe('the body');
    const second = await notify.resend(d!.id, id('d'));
    expect((await notify.pendingDeliveries(`wh-${w.id}`, 10)).map((p) => p.id)).toEqual([again.id, second.id]);
    expect((await notify.listDeliveries({ limit: 10, webhookId: w.id })).map((x) => x.id)).toEqual([
      second.id,
      again.id,
      d!.id,
    ]);
    expect((await notify.listDeliveries({ limit: 10, webhookId: w.id, state: 'delivered' })).map((x) => x.id)).toEqual([
      d!.id,
    ]);
    const old = new Date(Date.now() + 1000);
    expect(await notify.queuesWithPending(old)).toContain(`wh-${w.id}`);
    expect(await notify.deleteWebhook(w.id)).toBe(true);
    expect(await notify.deleteWebhook(w.id)).toBe(false);
    expect(await notify.pendingDeliveries(`wh-${w.id}`, 10)).toEqual([]);
    expect((await notify.getDelivery(again.id))?.state).toBe('cancelled');
    expect((await notify.getDelivery(d!.id))?.state).toBe('delivered');
    await expect(notify.resend('dnothere0', id('d'))).rejects.toEqual(expect.objectContaining({ code: 'not-found' }));
  });

  it('keeps the audit log: newest first, by target with its children, actor, action, paging back', async () => {
    const { notify } = await openStore(engine);
    const sub = `s${Date.now().toString(36)}${n++}`;
    await notify.addAudit({
      actor: 'tester',
      role: 'submit',
      address: '::ffff:127.0.0.1',
      action: 'cancel',
      targetKind: 'job',
      targetId: `${sub}.1`,
      details: { reason: 'wrong build' },
    });
    await notify.addAudit({
      actor: 'operator',
      role: 'operate',
      action: 'keep',
      targetKind: 'submission',
      targetId: sub,
      details: { keep: true },
    });
    await notify.addAudit({
      actor: 'operator',
      role: 'operate',
      action: 'mark-broken',
      targetKind: 'host',
      targetId: 'h1',
    });
    await notify.addAudit({
      actor: 'tester',
      role: 'submit',
      action: 'cancel',
      targetKind: 'job',
      targetId: `${sub}1.1`,
    });
    const all = await notify.listAudit({ limit: 10 });
    expect(all.map((e) => e.action)).toEqual(['cancel', 'mark-broken', 'keep', 'cancel']);
    expect(all[3]).toMatchObject({
      actor: 'tester',
      role: 'submit',
      address: '::ffff:127.0.0.1',
      targetKind: 'job',
      details: { reason: 'wrong build' },
    });
    expect(all[3]!.at).toMatch(/^\d{4}-\d\d-\d\dT/);
    // A submission with its jobs: not the job of another submission whose id merely starts alike.
    expect((await notify.listAudit({ limit: 10, targetId: sub, withChildren: true })).map((e) => e.targetId)).toEqual([
      sub,
      `${sub}.1`,
    ]);
    expect((await notify.listAudit({ limit: 10, targetId: sub })).map((e) => e.targetId)).toEqual([sub]);
    expect((await notify.listAudit({ limit: 10, actor: 'operator', action: 'keep' })).map((e) => e.targetId)).toEqual([
      sub,
    ]);
    expect((await notify.listAudit({ limit: 10, targetKind: 'host' })).map((e) => e.targetId)).toEqual(['h1']);
    const page = await notify.listAudit({ limit: 2 });
    expect((await notify.listAudit({ limit: 10, before: page[1]!.id })).map((e) => e.id)).toEqual(
      all.slice(2).map((e) => e.id),
    );
  });

  it('retention deletes ended deliveries and audit entries older than the records period, never a pending delivery', async () => {
    const { store, notify } = await openStore(engine);
    const w = await notify.createWebhook(hook());
    const [done, pending] = await notify.enqueue([delivery(w.id, 'job.done:r.1'), delivery(w.id, 'job.done:r.2')]);
    await notify.recordAttempt(
      done!.id,
      { attempt: 1, at: new Date().toISOString(), statusCode: 200, durationMs: 3 },
      true,
    );
    await notify.addAudit({
      actor: 'operator',
      role: 'operate',
      action: 'keep',
      targetKind: 'submission',
      targetId: 'sretained',
    });
    const policy = { logsDays: 30, recordsDays: 365 };
    expect(await store.applyRetention(policy)).toMatchObject({ deletedDeliveries: 0, deletedAuditEntries: 0 });
    expect(await notify.listDeliveries({ limit: 10, webhookId: w.id })).toHaveLength(2);
    const later = await store.applyRetention(policy, new Date(Date.now() + 366 * 86_400_000));
    expect(later).toMatchObject({ deletedDeliveries: 1, deletedAuditEntries: 1 });
    expect((await notify.listDeliveries({ limit: 10, webhookId: w.id })).map((d) => d.id)).toEqual([pending!.id]);
    expect(await notify.listAudit({ limit: 10, targetId: 'sretained' })).toEqual([]);
  });

  if (engine !== 'pglite') {
    it('enqueues an event once when two API servers on one database see it at the same time', async () => {
      const shared = await engineConfig(engine);
      const a = await openStore(engine, shared);
      const b = await openStore(engine, shared);
      const w = await a.notify.createWebhook(hook());
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).notify.enqueue([delivery(w.id, 'job.done:race.1')])),
      );
      expect(results.flat()).toHaveLength(1);
      expect(await b.notify.pendingDeliveries(`wh-${w.id}`, 10)).toHaveLength(1);
    });
  }
});
