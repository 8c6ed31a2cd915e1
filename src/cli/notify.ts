/**
 * @module `testbay webhook add|list|delete|deliveries|resend` and `testbay audit`: the
 * webhook subscriptions, their delivery log, and the audit log (operate token).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { notifyClient } from '../api/notify-client.js';
import type { AuditEntry, Delivery } from '../api/store/notify-store.js';
import { filterFromWords, WEBHOOK_EVENTS, type WebhookInput } from '../domain/webhooks.js';
import { clientFor, UsageError } from './lab-target.js';

type Command = (args: string[]) => Promise<number>;

const json = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
const lines = (rows: string[]) => process.stdout.write(`${rows.join('\n')}\n`);
const api = () => notifyClient(clientFor(loadConfig()));

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}
const time = (iso: string | undefined) => (iso ? iso.replace('T', ' ').slice(0, 19) : '-');

const WEBHOOK_USAGE = `usage: testbay webhook add URL --events ${WEBHOOK_EVENTS.join(',')} [--filter KEY=V[,V]]… [--description TEXT] [--json]
       testbay webhook list [--json]
       testbay webhook delete ID
       testbay webhook deliveries [ID] [--state pending|delivered|failed|cancelled] [--limit N] [--json]
       testbay webhook resend DELIVERY_ID [--json]`;

export function deliveriesTable(items: Delivery[]): string[] {
  if (items.length === 0) return ['no deliveries'];
  return table([
    ['DELIVERY', 'STATE', 'EVENT', 'CREATED', 'ATTEMPTS', 'LAST'],
    ...items.map((d) => {
      const last = d.attempts.at(-1);
      return [
        d.id,
        d.state,
        d.event,
        time(d.createdAt),
        String(d.attempts.filter((a) => a.attempt > 0).length),
        last ? `${time(last.at)} ${last.statusCode ?? ''} ${last.error ?? ''}`.trim() : '-',
      ];
    }),
  ]);
}

export function auditTable(items: AuditEntry[]): string[] {
  if (items.length === 0) return ['no entries'];
  return table([
    ['WHEN', 'WHO', 'FROM', 'ACTION', 'TARGET', 'DETAILS'],
    ...items.map((e) => [
      time(e.at),
      e.actor,
      e.address ?? '-',
      e.action,
      `${e.targetKind} ${e.targetId}`,
      e.details ? JSON.stringify(e.details) : '',
    ]),
  ]);
}

export const webhook: Command = async (args) => {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      events: { type: 'string' },
      filter: { type: 'string', multiple: true },
      description: { type: 'string' },
      json: { type: 'boolean' },
      state: { type: 'string' },
      limit: { type: 'string' },
    },
  });
  const n = notifyClient(clientFor(loadConfig()));
  switch (sub) {
    case 'add': {
      const url = positionals[0];
      if (!url || positionals.length > 1 || !values.events) throw new UsageError(WEBHOOK_USAGE);
      let filter: Record<string, string[]>;
      try {
        filter = filterFromWords(values.filter ?? []);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const input = {
        url,
        events: values.events
          .split(',')
          .map((e) => e.trim())
          .filter(Boolean),
        filter,
        ...(values.description ? { description: values.description } : {}),
      } as WebhookInput;
      const created = await n.addWebhook(input);
      if (values.json) json(created);
      else
        lines([
          `${created.webhook.id}`,
          `secret (shown once; receivers check X-Testbay-Signature with it): ${created.secret}`,
        ]);
      return 0;
    }
    case 'list': {
      const { webhooks } = await n.webhooks();
      if (values.json) json({ webhooks });
      else
        lines(
          webhooks.length === 0
            ? ['no webhooks']
            : table([
                ['WEBHOOK', 'URL', 'EVENTS', 'FILTER', 'BY'],
                ...webhooks.map((w) => [
                  w.id,
                  w.url,
                  w.events.join(','),
                  Object.keys(w.filter).length ? JSON.stringify(w.filter) : '-',
                  w.createdBy,
                ]),
              ]),
        );
      return 0;
    }
    case 'delete': {
      const id = positionals[0];
      if (!id || positionals.length > 1) throw new UsageError(WEBHOOK_USAGE);
      await n.deleteWebhook(id);
      if (values.json) json({ id, deleted: true });
      return 0;
    }
    case 'deliveries': {
      const { deliveries } = await n.deliveries({
        ...(positionals[0] ? { webhook: positionals[0] } : {}),
        ...(values.state ? { state: values.state as Delivery['state'] } : {}),
        ...(values.limit ? { limit: Number(values.limit) } : {}),
      });
      if (values.json) json({ deliveries });
      else lines(deliveriesTable(deliveries));
      return 0;
    }
    case 'resend': {
      const id = positionals[0];
      if (!id || positionals.length > 1) throw new UsageError(WEBHOOK_USAGE);
      const { delivery } = await n.resend(id);
      if (values.json) json({ delivery });
      else lines([delivery.id]);
      return 0;
    }
    default:
      throw new UsageError(WEBHOOK_USAGE);
  }
};

export const audit: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      target: { type: 'string' },
      actor: { type: 'string' },
      action: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length > 0)
    throw new UsageError('usage: testbay audit [--target ID] [--actor NAME] [--action ACTION] [--limit N] [--json]');
  const { entries } = await api().audit({
    ...(values.target ? { target: values.target, children: true } : {}),
    ...(values.actor ? { actor: values.actor } : {}),
    ...(values.action ? { action: values.action } : {}),
    ...(values.limit ? { limit: Number(values.limit) } : {}),
  });
  if (values.json) json({ entries });
  else lines(auditTable(entries));
  return 0;
};
