/**
 * @module Webhooks (operators): the subscriptions with their events and filters, and the
 * delivery log of webhooks and commit statuses — each delivery's state and every attempt
 * (status code or why it failed, when, how long) — with a button to re-send any of them.
 * Redrawn every few seconds while open (deliveries are retried in the background).
 */
import type { Delivery, Webhook } from '../../../store/notify-store.js';
import { api } from '../api.js';
import { fill, h } from '../dom.js';
import { time } from '../format.js';
import { act, errorBox, type Ctx, type Page } from '../page.js';

const STATE_CLASS: Record<Delivery['state'], string> = {
  delivered: 'result-passed',
  failed: 'result-failed',
  pending: 'state-waiting',
  cancelled: 'result-cancelled',
};

function attempts(d: Delivery): HTMLElement {
  return h(
    'ol',
    { class: 'attempts' },
    d.attempts.map((a) =>
      h(
        'li',
        { 'data-status': a.statusCode ?? 'none' },
        a.attempt > 0 ? `#${a.attempt} ` : '',
        a.statusCode !== undefined ? h('b', { class: a.statusCode < 300 ? 'ok' : 'bad' }, String(a.statusCode)) : '',
        a.error ? h('span', { class: 'muted' }, ` ${a.error}`) : '',
        ' ',
        time(a.at),
        h('span', { class: 'muted' }, ` ${a.durationMs} ms`),
      ),
    ),
  );
}

function deliveriesTable(ctx: Ctx, items: Delivery[], reload: () => void): HTMLElement {
  if (items.length === 0) return h('p', { class: 'empty' }, 'Nothing was delivered yet.');
  return h(
    'table',
    { class: 'list deliveries' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Delivery', 'Event', 'To', 'State', 'Attempts', ''].map((t) => h('th', null, t)),
      ),
    ),
    h(
      'tbody',
      null,
      items.map((d) => {
        const resend = h('button', { class: 'small', 'data-action': 'resend' }, 'Re-send');
        resend.addEventListener(
          'click',
          () =>
            void act(ctx, resend, `delivery ${d.id} re-sent`, () => api('POST', `/deliveries/${d.id}/resend`, {})).then(
              reload,
            ),
        );
        return h(
          'tr',
          { 'data-delivery': d.id, 'data-state': d.state },
          h(
            'td',
            null,
            h('code', null, d.id),
            d.resendOf ? h('div', { class: 'muted' }, `re-send of ${d.resendOf}`) : null,
            h('div', { class: 'muted' }, time(d.createdAt)),
          ),
          h('td', null, h('b', null, d.event), h('div', { class: 'muted' }, d.eventId)),
          h('td', null, d.target === 'commit-status' ? 'commit status ' : '', h('span', { class: 'url' }, d.url)),
          h('td', null, h('span', { class: `badge ${STATE_CLASS[d.state]}` }, d.state)),
          h('td', null, attempts(d)),
          h('td', null, resend),
        );
      }),
    ),
  );
}

function webhooksTable(ctx: Ctx, items: Webhook[], reload: () => void): HTMLElement {
  if (items.length === 0)
    return h(
      'p',
      { class: 'empty' },
      'No subscriptions. Add one: testbay webhook add URL --events submission.done,job.done,host.broken',
    );
  return h(
    'table',
    { class: 'list webhooks' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Webhook', 'URL', 'Events', 'Filter', 'Added', ''].map((t) => h('th', null, t)),
      ),
    ),
    h(
      'tbody',
      null,
      items.map((w) => {
        const remove = h('button', { class: 'small', 'data-action': 'delete-webhook' }, 'Delete');
        remove.addEventListener(
          'click',
          () => void act(ctx, remove, `webhook ${w.id} deleted`, () => api('DELETE', `/webhooks/${w.id}`)).then(reload),
        );
        return h(
          'tr',
          { 'data-webhook': w.id },
          h('td', null, h('code', null, w.id), w.description ? h('div', { class: 'muted' }, w.description) : null),
          h('td', { class: 'url' }, w.url),
          h('td', null, w.events.join(', ')),
          h(
            'td',
            { class: 'muted' },
            Object.keys(w.filter).length
              ? Object.entries(w.filter)
                  .map(([k, v]) => `${k}=${(v as string[]).join(',')}`)
                  .join(' ')
              : 'all',
          ),
          h('td', null, w.createdBy, ' ', time(w.createdAt)),
          h('td', null, remove),
        );
      }),
    ),
  );
}

export function webhooksPage(ctx: Ctx): Page {
  const hooks = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  const log = h('div');
  const el = h(
    'section',
    { class: 'webhooks-page' },
    h('h1', null, 'Webhooks'),
    hooks,
    h('h2', null, 'Delivery log'),
    log,
  );
  if (!ctx.session.canOperate) {
    fill(hooks, h('p', { class: 'muted' }, 'Webhooks and their deliveries need an operator token.'));
    return { el, dispose() {} };
  }
  const load = async () => {
    try {
      const [{ webhooks }, { deliveries }] = await Promise.all([
        api<{ webhooks: Webhook[] }>('GET', '/webhooks'),
        api<{ deliveries: Delivery[] }>('GET', '/deliveries?limit=100'),
      ]);
      fill(
        hooks,
        webhooksTable(ctx, webhooks, () => void load()),
      );
      fill(
        log,
        deliveriesTable(ctx, deliveries, () => void load()),
      );
    } catch (err) {
      fill(hooks, errorBox(err));
    }
  };
  const timer = window.setInterval(() => void load(), 3000);
  void load();
  return { el, dispose: () => window.clearInterval(timer) };
}
