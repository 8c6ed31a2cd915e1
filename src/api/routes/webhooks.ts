/**
 * @module Webhooks: subscribe (`POST /webhooks`: an http(s) URL, the events, a filter; the
 * answer carries the subscription's secret, once), list and delete; the delivery log of
 * every subscription and of commit statuses (`GET /deliveries`), and resend any delivery.
 * All for operators: a subscription hears of the whole lab. The control worker's side:
 * a queue's pending deliveries, one attempt's signed request, the attempt's record and
 * giving a delivery up.
 */
import express, { Router } from 'express';
import { webhookInput } from '../../domain/webhooks.js';
import { audited, auditTarget } from '../audit.js';
import { HttpError, parseOr400 } from '../http-errors.js';
import { authorize, principalOf } from '../middleware.js';
import { secretContext } from '../notify/notifier.js';
import { newNotifyId, newWebhookSecret } from '../notify/signature.js';
import type { RouteDeps } from './deps.js';
import {
  attemptBody,
  deliveriesQuery,
  deliveryIdParam,
  deliveryQueueParam,
  giveUpBody,
  pendingQuery,
  webhookIdParam,
} from './notify-schemas.js';

export function webhookRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { notify, notifier, tokens } = deps;
  const operate = authorize(tokens, 'operate');
  const control = authorize(tokens, 'control');

  r.post(
    '/webhooks',
    operate,
    audited(
      deps,
      'webhook-add',
      (_req, answer) => ({
        kind: 'webhook',
        id: (answer as { webhook?: { id: string } } | undefined)?.webhook?.id ?? '?',
      }),
      (req) => ({ url: (req.body as { url?: string }).url, events: (req.body as { events?: string[] }).events }),
    ),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const input = parseOr400(webhookInput, req.body ?? {}, 'body');
      const id = newNotifyId('w');
      const secret = newWebhookSecret();
      const webhook = await notify.createWebhook({
        id,
        url: input.url,
        events: [...new Set(input.events)],
        filter: input.filter,
        ...(input.description !== undefined ? { description: input.description } : {}),
        createdAt: new Date().toISOString(),
        createdBy: principalOf(res).name,
        secretSealed: deps.payloadKey.seal(secret, secretContext(id)),
      });
      res.status(201).json({ webhook, secret });
    },
  );

  r.get('/webhooks', operate, async (_req, res) => {
    res.json({ webhooks: await notify.listWebhooks() });
  });

  r.get('/webhooks/:id', operate, async (req, res) => {
    const id = parseOr400(webhookIdParam, req.params.id, 'webhook id');
    const hook = await notify.getWebhook(id);
    if (!hook) throw new HttpError(404, `no webhook ${id}`);
    const { secretSealed: _secret, ...shown } = hook;
    res.json(shown);
  });

  r.delete('/webhooks/:id', operate, audited(deps, 'webhook-delete', auditTarget.webhook), async (req, res) => {
    const id = parseOr400(webhookIdParam, req.params.id, 'webhook id');
    if (!(await notify.deleteWebhook(id))) throw new HttpError(404, `no webhook ${id}`);
    res.status(204).end();
  });

  r.get('/deliveries', operate, async (req, res) => {
    const query = parseOr400(deliveriesQuery, req.query, 'query');
    res.json({
      deliveries: await notify.listDeliveries({
        limit: query.limit,
        ...(query.webhook ? { webhookId: query.webhook } : {}),
        ...(query.queue ? { queue: query.queue } : {}),
        ...(query.state ? { state: query.state } : {}),
        ...(query.before !== undefined ? { before: query.before } : {}),
      }),
    });
  });

  r.post(
    '/deliveries/:id/resend',
    operate,
    audited(deps, 'delivery-resend', auditTarget.delivery, (_req, answer) => ({
      as: (answer as { delivery?: { id: string } } | undefined)?.delivery?.id,
    })),
    async (req, res) => {
      const id = parseOr400(deliveryIdParam, req.params.id, 'delivery id');
      const original = await notify.getDelivery(id);
      if (!original) throw new HttpError(404, `no delivery ${id}`);
      if (original.webhookId && !(await notify.getWebhook(original.webhookId)))
        throw new HttpError(409, `delivery ${id} was to webhook ${original.webhookId}, which is deleted`);
      const delivery = await notify.resend(id, newNotifyId('d'));
      await notifier.wake(delivery.queue);
      res.status(201).json({ delivery });
    },
  );

  // ---- the control worker's delivery activities ----

  r.get('/internal/delivery-queues/:queue/pending', control, async (req, res) => {
    const queue = parseOr400(deliveryQueueParam, req.params.queue, 'delivery queue');
    const { limit } = parseOr400(pendingQuery, req.query, 'query');
    res.json({ deliveries: await notify.pendingDeliveries(queue, limit) });
  });

  r.get('/internal/deliveries/:id/request', control, async (req, res) => {
    const id = parseOr400(deliveryIdParam, req.params.id, 'delivery id');
    const request = await notifier.requestOf(id);
    if (!request) throw new HttpError(404, `no delivery ${id}`);
    res.json(request);
  });

  r.post('/internal/deliveries/:id/attempts', control, express.json({ limit: '16kb' }), async (req, res) => {
    const id = parseOr400(deliveryIdParam, req.params.id, 'delivery id');
    const { delivered, ...attempt } = parseOr400(attemptBody, req.body, 'body');
    res.json(await notify.recordAttempt(id, compactAttempt(attempt), delivered));
  });

  r.post('/internal/deliveries/:id/give-up', control, express.json({ limit: '16kb' }), async (req, res) => {
    const id = parseOr400(deliveryIdParam, req.params.id, 'delivery id');
    const { reason } = parseOr400(giveUpBody, req.body, 'body');
    const d = await notify.failDelivery(id, reason);
    deps.log.warn('a delivery was given up', { id, url: d.url, event: d.eventId, reason });
    res.json(d);
  });

  return r;
}

function compactAttempt<T extends { statusCode?: number | undefined; error?: string | undefined }>(a: T) {
  const { statusCode, error, ...rest } = a;
  return {
    ...rest,
    ...(statusCode !== undefined ? { statusCode } : {}),
    ...(error !== undefined ? { error } : {}),
  } as Omit<T, 'statusCode' | 'error'> & { statusCode?: number; error?: string };
}
