/**
 * @module A submission's batch runs: for each, how far it got in the words of its ledger
 * (done, running, queued, requeued, lost — a bar and the numbers), why it stopped early,
 * the batches out on hosts now with links to their live logs, which tests were isolated
 * and why, which were lost and which failed, the flaky ones, and links to the log of
 * every batch so far. Cancel while it runs; once done, rerun its failed and lost tests.
 */
import type { BatchRunView } from '../../../domain/views.js';
import { api } from './api.js';
import { h } from './dom.js';
import { resultBadge, stateBadge } from './format.js';
import { act, link, type Ctx } from './page.js';

/** The parts of the bar, in order, with the words the ledger uses. */
const PARTS = [
  ['passed', 'passed'],
  ['flaky', 'flaky'],
  ['failed', 'failed'],
  ['lost', 'lost'],
  ['skipped', 'skipped'],
  ['cancelled', 'cancelled'],
  ['running', 'running'],
  ['requeued', 'requeued'],
  ['queued', 'queued'],
] as const;

/** Batch log links shown at most (the newest batches). */
const MAX_BATCH_LINKS = 300;

function countsBar(run: BatchRunView): HTMLElement {
  const c = run.counts;
  const total = Math.max(1, c.total);
  const bar = h('div', {
    class: 'batch-bar',
    role: 'img',
    'aria-label': PARTS.map(([k]) => `${c[k]} ${k}`).join(', '),
  });
  for (const [key, word] of PARTS) {
    if (c[key] === 0) continue;
    const part = h('span', { class: `part part-${key}`, title: `${c[key]} ${word}` });
    // Through the CSSOM: the dashboard's CSP forbids style attributes.
    part.style.width = `${(100 * c[key]) / total}%`;
    bar.append(part);
  }
  return bar;
}

function countsLine(run: BatchRunView): HTMLElement {
  const c = run.counts;
  const done = c.passed + c.failed + c.flaky + c.skipped + c.lost + c.cancelled;
  const item = (key: string, value: number, word = key) =>
    h('span', { class: `count count-${key}`, 'data-count': key }, h('b', null, String(value)), ` ${word}`);
  return h(
    'div',
    { class: 'batch-counts' },
    item('done', done, `of ${c.total} done`),
    item('running', c.running),
    item('queued', c.queued),
    item('requeued', c.requeued),
    item('lost', c.lost),
    ' · ',
    item('passed', c.passed),
    item('failed', c.failed),
    c.flaky ? item('flaky', c.flaky) : null,
    c.skipped ? item('skipped', c.skipped) : null,
    c.cancelled ? item('cancelled', c.cancelled) : null,
    ' · ',
    h(
      'span',
      { class: 'muted' },
      `${run.batches} batches on ${run.hosts.length} host${run.hosts.length === 1 ? '' : 's'}${run.lostBatches ? `, ${run.lostBatches} lost` : ''}`,
    ),
  );
}

function notes(
  title: string,
  cls: string,
  items: { test: string; reason: string }[],
  total?: number,
): HTMLElement | null {
  if (items.length === 0) return null;
  return h(
    'div',
    { class: `batch-notes ${cls}` },
    h('h4', null, `${title} (${total ?? items.length})`),
    h(
      'ul',
      null,
      items.map((t) => h('li', { 'data-test': t.test }, h('code', null, t.test), ': ', t.reason)),
    ),
  );
}

function runningTable(run: BatchRunView): HTMLElement | null {
  if (run.running.length === 0) return null;
  return h(
    'div',
    { class: 'batch-running' },
    h('h4', null, `Batches on hosts now (${run.running.length})`),
    h(
      'table',
      { class: 'list batches' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Batch', 'Host', 'Tests', 'Now', 'Log'].map((t) => h('th', null, t)),
        ),
      ),
      h(
        'tbody',
        null,
        run.running.map((b) =>
          h(
            'tr',
            { 'data-batch': b.batchId, 'data-host': b.hostId },
            h('td', null, h('code', null, b.batchId)),
            h('td', null, link(`/hosts#host-${b.hostId}`, b.hostId)),
            h('td', null, String(b.tests)),
            h('td', null, b.current ? h('code', null, b.current) : ''),
            h('td', null, h('a', { href: `/jobs/${b.batchId}`, class: 'live-log' }, 'live log →')),
          ),
        ),
      ),
    ),
  );
}

function batchLinks(run: BatchRunView): HTMLElement | null {
  if (run.batches === 0) return null;
  const first = Math.max(1, run.batches - MAX_BATCH_LINKS + 1);
  const links: (HTMLElement | string)[] = [];
  for (let n = first; n <= run.batches; n++) links.push(link(`/jobs/${run.id}.${n}`, `#${n}`), ' ');
  return h(
    'div',
    { class: 'batch-logs' },
    h('span', { class: 'muted' }, first > 1 ? `logs of the last ${MAX_BATCH_LINKS} batches: ` : 'batch logs: '),
    links,
  );
}

function actions(ctx: Ctx, run: BatchRunView): HTMLElement | null {
  if (run.state !== 'done') {
    const b = h('button', { class: 'small danger', 'data-action': 'cancel-batch-run' }, 'Cancel batch run');
    b.addEventListener(
      'click',
      () => void act(ctx, b, `cancel ${run.id}`, () => api('POST', `/jobs/${run.id}/cancel`, {})),
    );
    return b;
  }
  if (run.counts.failed + run.counts.lost === 0) return null;
  const b = h('button', { class: 'small', 'data-action': 'rerun-batch-run' }, 'Rerun failed and lost');
  b.title = 'a new submission running only the tests that failed or were lost';
  b.addEventListener(
    'click',
    () =>
      void act(ctx, b, `rerun ${run.id}`, async () => {
        const created = await api<{ id: string }>('POST', `/jobs/${run.id}/restart`, {});
        ctx.navigate(`/submissions/${created.id}`);
      }),
  );
  return b;
}

export function batchRunPanel(ctx: Ctx, run: BatchRunView): HTMLElement {
  return h(
    'section',
    {
      class: `batch-run ${run.result ? `result-${run.result}` : `state-${run.state}`}`,
      'data-run': run.id,
      'data-state': run.state,
    },
    h(
      'div',
      { class: 'page-head' },
      h('h3', null, 'Batch run ', h('b', null, run.name), ' ', h('code', null, run.id)),
      run.result ? resultBadge(run.result) : stateBadge(run.state),
      actions(ctx, run),
    ),
    countsBar(run),
    countsLine(run),
    run.reason ? h('div', { class: 'error-box batch-reason' }, run.reason) : null,
    runningTable(run),
    notes('Isolated: rerun in a batch of their own', 'isolated', run.isolated),
    notes('Lost: no result after every attempt', 'lost', run.lost, run.counts.lost),
    notes('Failed', 'failed', run.failed, run.counts.failed),
    run.flaky.length > 0
      ? notes(
          'Flaky: passed after failing',
          'flaky',
          run.flaky.map((t) => ({ test: t, reason: 'passed on a rerun after a failure' })),
          run.counts.flaky,
        )
      : null,
    batchLinks(run),
  );
}
