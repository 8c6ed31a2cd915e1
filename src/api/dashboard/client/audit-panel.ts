/**
 * @module The audit log as a panel (hosts and job pages): who did what, when, from where.
 * Operators only (GET /audit needs the operate role); for others it says so. Reloaded by
 * the page when something changed.
 */
import type { AuditEntry } from '../../store/notify-store.js';
import { api } from './api.js';
import { fill, h } from './dom.js';
import { time } from './format.js';
import { errorBox, link, type Ctx } from './page.js';

function targetLink(e: AuditEntry): Node | string {
  if (e.targetKind === 'job') return link(`/jobs/${e.targetId}`, e.targetId);
  if (e.targetKind === 'submission') return link(`/submissions/${e.targetId}`, e.targetId);
  if (e.targetKind === 'host') return link(`/hosts#host-${e.targetId}`, e.targetId);
  return link('/webhooks', e.targetId);
}

export function auditTable(entries: AuditEntry[]): HTMLElement {
  if (entries.length === 0) return h('p', { class: 'empty' }, 'Nobody did anything here yet.');
  return h(
    'table',
    { class: 'list audit' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['When', 'Who', 'From', 'Action', 'Target', 'Details'].map((t) => h('th', null, t)),
      ),
    ),
    h(
      'tbody',
      null,
      entries.map((e) =>
        h(
          'tr',
          { 'data-action': e.action, 'data-target': e.targetId },
          h('td', null, time(e.at)),
          h('td', null, h('b', null, e.actor), h('span', { class: 'muted' }, ` (${e.role})`)),
          h('td', { class: 'muted' }, e.address ?? ''),
          h('td', null, h('code', null, e.action)),
          h('td', null, e.targetKind, ' ', targetLink(e)),
          h(
            'td',
            { class: 'muted' },
            e.details
              ? Object.entries(e.details)
                  .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
                  .join(', ')
              : '',
          ),
        ),
      ),
    ),
  );
}

/** A panel of the audit entries `query` selects (`kind=host`, `target=<submission>&children=1`). */
export function auditPanel(ctx: Ctx, query: string): { el: HTMLElement; reload(): void } {
  const body = h('div');
  const el = h('div', { class: 'audit-panel' }, h('h2', null, 'Audit log'), body);
  const reload = () => {
    if (!ctx.session.canOperate) {
      fill(body, h('p', { class: 'muted' }, 'The audit log needs an operator token.'));
      return;
    }
    api<{ entries: AuditEntry[] }>('GET', `/audit?${query}&limit=50`)
      .then(({ entries }) => fill(body, auditTable(entries)))
      .catch((err: unknown) => fill(body, errorBox(err)));
  };
  reload();
  return { el, reload };
}
