/**
 * @module How results, states and times look, the same on every page. A failed job (the
 * test's verdict on the system under test) and an aborted one (the lab's fault, with its
 * typed cause) never look alike: different colour, icon, word and a hatched background
 * for aborts; the words "test failure" and "infrastructure" say it in plain text too.
 */
import type { Progress } from '../../../domain/job-run.js';
import type { JobResult, ResultKind } from '../../../domain/outcome.js';
import type { JobView } from '../../../domain/views.js';
import { h } from './dom.js';

export const RESULT_ICON: Record<ResultKind, string> = {
  passed: '✓',
  failed: '✗',
  aborted: '⚠',
  cancelled: '⊘',
  skipped: '↷',
};
export const RESULT_WORD: Record<ResultKind, string> = {
  passed: 'passed',
  failed: 'failed · test',
  aborted: 'aborted · infrastructure',
  cancelled: 'cancelled',
  skipped: 'skipped',
};
// Glyphs every common font has (DejaVu included): no emoji, which headless browsers and
// many desktops draw as an empty box.
export const WAITING_ICON = '◷';
const STATE_ICON: Record<string, string> = {
  waiting: WAITING_ICON,
  scheduled: '◔',
  provisioning: '◑',
  running: '▶',
  uploading: '⇪',
  done: '■',
};

export function resultBadge(kind: ResultKind, short = false): HTMLElement {
  return h(
    'span',
    { class: `badge result-${kind}`, 'data-result': kind, title: RESULT_WORD[kind] },
    `${RESULT_ICON[kind]} ${short ? kind : RESULT_WORD[kind]}`,
  );
}

export function stateBadge(state: string): HTMLElement {
  return h('span', { class: `badge state-${state}`, 'data-state': state }, `${STATE_ICON[state] ?? ''} ${state}`);
}

/** The badge of a job: its result once it has one, else its state. */
export function jobBadge(job: Pick<JobView, 'state' | 'result'>, short = false): HTMLElement {
  return job.result ? resultBadge(job.result.kind, short) : stateBadge(job.state);
}

export function causeChip(cause: string): HTMLElement {
  return h('span', { class: 'cause', title: 'typed cause of the infrastructure abort' }, cause);
}

/** One line saying why: the abort's cause and reason, the failure, the waiting reason (for parents, a host, or its turn on the host) or the progress. */
export function jobDetail(job: JobView): HTMLElement | string {
  const r = job.result;
  if (r) return resultReason(r);
  if ((job.state === 'waiting' || job.state === 'scheduled') && job.waitingReason)
    return h('span', { class: 'waiting-reason' }, `${WAITING_ICON} `, job.waitingReason);
  if (job.progress) return progressBar(job.progress);
  return '';
}

export function resultReason(r: JobResult): HTMLElement {
  if (r.kind === 'aborted') return h('span', { class: 'reason reason-aborted' }, causeChip(r.cause), ' ', r.reason);
  if (r.kind === 'failed')
    return h('span', { class: 'reason reason-failed' }, h('b', null, 'test failure: '), r.reason);
  return h('span', { class: `reason reason-${r.kind}` }, 'reason' in r && r.reason ? r.reason : '');
}

export function progressBar(p: Progress): HTMLElement {
  const pct = p.percent !== undefined ? Math.round(p.percent) : undefined;
  const fill = h('span', { class: 'fill' });
  // Through the CSSOM: the dashboard's CSP forbids style attributes.
  fill.style.width = `${pct ?? 0}%`;
  return h(
    'span',
    { class: 'progress' },
    h('span', { class: 'bar' }, fill),
    h(
      'span',
      { class: 'progress-text' },
      [p.module ? `module ${p.module}` : '', pct !== undefined ? `${pct}%` : '', p.message ?? '']
        .filter(Boolean)
        .join(' · '),
    ),
  );
}

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

export function duration(from: string | undefined, to: string | undefined): string {
  if (!from) return '';
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  if (ms < 0) return '';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function time(iso: string | undefined): HTMLElement | string {
  if (!iso) return '';
  return h('time', { datetime: iso, title: iso }, ago(iso));
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
