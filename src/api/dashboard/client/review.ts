/**
 * @module Review on the dashboard: a job's scenario history strip (its last 20 results,
 * each a link) with its last good run and the first bad one since, the investigation
 * panel of a failed job (what changed since the last good run), comments (drawn as text
 * nodes with bug-reference links: never as HTML) with a form, and labels. Also the
 * "needs review" page: failed jobs without a comment, newest first.
 */
import type { InvestigationView, ScenarioHistory } from '../../routes/scenarios.js';
import type { Label, ReviewItem, ScenarioRun } from '../../store/review-store.js';
import type { CommentPart } from '../../../domain/review.js';
import { parseJobId } from '../../../domain/ids.js';
import { api, ApiError } from './api.js';
import { fill, h, type Child } from './dom.js';
import { RESULT_ICON, resultBadge, time } from './format.js';
import { onLive } from './live.js';
import { act, errorBox, link, type Ctx, type Page } from './page.js';

interface CommentView {
  id: number;
  author: string;
  text: string;
  createdAt: string;
  carriedOverFrom?: string;
  parts: CommentPart[];
}

/** A comment's text as DOM nodes: plain text, and bug references as links. */
export function commentNodes(parts: CommentPart[]): Child[] {
  return parts.map((p) =>
    'ref' in p
      ? h(
          'a',
          { href: p.url, target: '_blank', rel: 'noopener noreferrer', class: 'bug-ref', 'data-external': '' },
          p.ref,
        )
      : p.text,
  );
}

const runTitle = (r: ScenarioRun) =>
  `${r.jobId}: ${r.result?.kind ?? r.state} on ${r.hostId ?? '?'}, ${r.endedAt ?? r.openedAt}${r.testsCommit ? `, commit ${r.testsCommit.slice(0, 12)}` : ''}`;

function historyStrip(h0: ScenarioHistory, current: string): HTMLElement {
  // Oldest on the left, as a timeline reads.
  const cells = [...h0.runs].reverse().map((r) => {
    const kind = r.result?.kind ?? 'running';
    return h(
      'a',
      {
        href: `/jobs/${r.jobId}`,
        class: `strip-cell strip-${kind}${r.jobId === current ? ' strip-current' : ''}`,
        title: runTitle(r),
        'data-job': r.jobId,
        'data-result': kind,
      },
      kind === 'running' ? '…' : RESULT_ICON[kind],
    );
  });
  return h(
    'div',
    { class: 'scenario-history', 'data-scenario': h0.scenario.key },
    h(
      'div',
      { class: 'strip-head' },
      h('b', null, 'Scenario '),
      h('code', null, h0.scenario.description),
      ` · last ${h0.runs.length} results · `,
      link(`/?scenario=${encodeURIComponent(h0.scenario.key)}`, 'its submissions'),
    ),
    h('div', { class: 'history-strip' }, cells),
    h(
      'p',
      { class: 'facts' },
      h(
        'span',
        { 'data-last-good': h0.lastGood?.jobId ?? '' },
        'last good: ',
        h0.lastGood
          ? [link(`/jobs/${h0.lastGood.jobId}`, h0.lastGood.jobId), ' (', time(h0.lastGood.endedAt), ')']
          : h('span', { class: 'muted' }, 'none on record'),
      ),
      h0.firstBadSince
        ? [
            ' · ',
            h(
              'span',
              { 'data-first-bad': h0.firstBadSince.jobId },
              'first bad since: ',
              link(`/jobs/${h0.firstBadSince.jobId}`, h0.firstBadSince.jobId),
              ' (',
              time(h0.firstBadSince.endedAt),
              ')',
            ),
          ]
        : null,
    ),
  );
}

const pairs = (r: Record<string, string>, sign: string) =>
  Object.entries(r).map(([k, v]) => h('li', null, h('code', null, `${sign} ${k}=${v}`)));

function investigationPanel(v: InvestigationView): HTMLElement {
  const rows: Child[] = [];
  const section = (title: string, items: Child[]) => {
    if (items.length > 0)
      rows.push(h('div', { class: 'inv-section', 'data-section': title }, h('h3', null, title), h('ul', null, items)));
  };
  if ('none' in v.lastGood) {
    return h(
      'div',
      { class: 'investigation', 'data-good': 'none' },
      h('h2', null, 'Investigation'),
      h('p', { class: 'empty' }, 'No good run to compare with: ', v.lastGood.none, '.'),
    );
  }
  const s = v.settings;
  if (s)
    section('Settings', [
      ...pairs(s.added, '+'),
      ...pairs(s.removed, '-'),
      ...Object.entries(s.changed).map(([k, c]) => h('li', null, h('code', null, `~ ${k}: ${c.before} → ${c.after}`))),
    ]);
  if (v.argv)
    section('Runner argv', [
      h('li', null, 'before ', h('code', null, JSON.stringify(v.argv.before))),
      h('li', null, 'now ', h('code', null, JSON.stringify(v.argv.after))),
    ]);
  const t = v.testCode;
  if (t) {
    section(
      'Test code',
      [
        t.repository
          ? h(
              'li',
              null,
              'repository ',
              h('code', null, t.repository.before),
              ' → ',
              h('code', null, t.repository.after),
            )
          : null,
        t.ref ? h('li', null, 'ref ', h('code', null, t.ref.before), ' → ', h('code', null, t.ref.after)) : null,
        t.commit
          ? h(
              'li',
              null,
              'commit ',
              h('code', null, t.commit.before?.slice(0, 12) ?? '?'),
              ' → ',
              h('code', null, t.commit.after?.slice(0, 12) ?? '?'),
            )
          : null,
        t.log
          ? h('li', null, `${t.log.length} commit(s) between them:`, h('pre', { class: 'git-log' }, t.log.join('\n')))
          : null,
        t.logNote ? h('li', { class: 'muted' }, t.logNote) : null,
      ].filter((x) => x !== null),
    );
  }
  const a = v.assets;
  if (a)
    section('Assets', [
      ...a.added.map((x) => h('li', null, h('code', null, `+ ${x.name} ${x.sha256}`))),
      ...a.removed.map((x) => h('li', null, h('code', null, `- ${x.name} ${x.sha256}`))),
      ...a.changed.map((x) =>
        h(
          'li',
          null,
          h('code', null, `~ ${x.name}: ${x.sha256.before.slice(0, 12)}… → ${x.sha256.after.slice(0, 12)}…`),
        ),
      ),
    ]);
  const host = v.host;
  if (host) {
    section(
      'Host',
      [
        host.id
          ? h('li', null, 'host ', h('code', null, host.id.before ?? '?'), ' → ', h('code', null, host.id.after ?? '?'))
          : null,
        ...(host.capabilities
          ? [
              ...pairs(host.capabilities.added, '+'),
              ...pairs(host.capabilities.removed, '-'),
              ...Object.entries(host.capabilities.changed).map(([k, c]) =>
                h('li', null, h('code', null, `~ ${k}: ${c.before} → ${c.after}`)),
              ),
            ]
          : []),
      ].filter((x) => x !== null),
    );
  }
  const tests = v.tests;
  if (tests) {
    const line = (label: string, names: string[], cls: string) =>
      names.length ? h('li', { class: cls }, `${label}: `, names.join(', ')) : null;
    section(
      'Tests',
      [
        line('newly failing', tests.newlyFailing, 'test-failed'),
        line('newly passing', tests.newlyPassing, 'test-passed'),
        line('appeared', tests.appeared, ''),
        line('disappeared', tests.disappeared, ''),
      ].filter((x) => x !== null),
    );
  }
  return h(
    'div',
    { class: 'investigation', 'data-good': v.lastGood.jobId },
    h('h2', null, 'Investigation'),
    h(
      'p',
      null,
      'Compared with the last good run ',
      link(`/jobs/${v.lastGood.jobId}`, v.lastGood.jobId),
      ' (',
      time(v.lastGood.endedAt),
      ').',
    ),
    rows.length > 0 ? rows : h('p', { class: 'empty' }, 'Nothing differs that Testbay records.'),
  );
}

function commentsSection(ctx: Ctx, targetId: string, comments: CommentView[], redraw: () => void): HTMLElement {
  const input = h('textarea', {
    name: 'comment',
    rows: 2,
    cols: 60,
    placeholder: 'Comment (bug references such as bsc#1234 become links)',
    'aria-label': 'comment',
  });
  const send = h('button', { type: 'submit', 'data-action': 'add-comment' }, 'Comment');
  const form = h('form', { class: 'comment-form' }, input, ' ', send);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    void act(ctx, send, 'comment added', async () => {
      await api(
        'POST',
        `/${parseJobId(targetId).kind === 'submission' ? 'submissions' : 'jobs'}/${targetId}/comments`,
        { text },
      );
      input.value = '';
      redraw();
    });
  });
  return h(
    'div',
    { class: 'comments' },
    h('h2', null, `Comments (${comments.length})`),
    comments.length === 0
      ? h('p', { class: 'empty' }, 'None yet.')
      : h(
          'ul',
          { class: 'comment-list' },
          comments.map((c) =>
            h(
              'li',
              { class: 'comment', 'data-comment': c.id },
              h(
                'span',
                { class: 'comment-meta' },
                h('b', null, c.author),
                ' ',
                time(c.createdAt),
                c.carriedOverFrom
                  ? [' · carried over from ', link(`/jobs/${c.carriedOverFrom}`, c.carriedOverFrom)]
                  : null,
              ),
              h('div', { class: 'comment-text' }, commentNodes(c.parts)),
            ),
          ),
        ),
    form,
  );
}

function labelsSection(ctx: Ctx, jobId: string, labels: Label[], redraw: () => void): HTMLElement {
  const input = h('input', { name: 'label', size: 14, placeholder: 'flaky, infra, needs-bug', 'aria-label': 'label' });
  const add = h('button', { type: 'submit', class: 'small', 'data-action': 'add-label' }, 'Add label');
  const form = h('form', { class: 'label-form' }, input, ' ', add);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const label = input.value.trim();
    if (!label) return;
    void act(ctx, add, `label ${label} added`, async () => {
      await api('POST', `/jobs/${jobId}/labels`, { label });
      redraw();
    });
  });
  return h(
    'div',
    { class: 'labels' },
    h('b', null, 'Labels '),
    labels.map((l) => {
      const off = h(
        'button',
        { type: 'button', class: 'link', title: `added by ${l.addedBy}`, 'data-action': 'remove-label' },
        '×',
      );
      off.addEventListener(
        'click',
        () =>
          void act(ctx, off, `label ${l.label} removed`, async () => {
            await api('DELETE', `/jobs/${jobId}/labels/${encodeURIComponent(l.label)}`);
            redraw();
          }),
      );
      return h('span', { class: 'label-chip', 'data-label': l.label }, l.label, ' ', off);
    }),
    ' ',
    form,
  );
}

/** The review part of a job page: history strip, investigation (failed jobs), labels and comments. */
export function drawJobReview(
  ctx: Ctx,
  el: HTMLElement,
  job: { id: string; scenario?: string; result?: { kind: string } },
): void {
  const redraw = () => drawJobReview(ctx, el, job);
  // No history yet (the job never ran) or no record to investigate: nothing to show.
  const missing = (err: unknown): undefined => {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  };
  void Promise.all([
    job.scenario
      ? api<ScenarioHistory>('GET', `/scenarios/${encodeURIComponent(job.scenario)}/history?limit=20`).catch(missing)
      : undefined,
    job.result?.kind === 'failed'
      ? api<InvestigationView>('GET', `/jobs/${job.id}/investigation`).catch(missing)
      : undefined,
    api<{ comments: CommentView[] }>('GET', `/jobs/${job.id}/comments`),
    api<{ labels: Label[] }>('GET', `/jobs/${job.id}/labels`),
  ]).then(
    ([history, investigation, { comments }, { labels }]) =>
      fill(
        el,
        history ? historyStrip(history, job.id) : null,
        investigation ? investigationPanel(investigation) : null,
        labelsSection(ctx, job.id, labels, redraw),
        commentsSection(ctx, job.id, comments, redraw),
      ),
    (err: unknown) => fill(el, errorBox(err)),
  );
}

/** Comments on a submission, for its page. */
export function drawSubmissionComments(ctx: Ctx, el: HTMLElement, submissionId: string): void {
  const redraw = () => drawSubmissionComments(ctx, el, submissionId);
  api<{ comments: CommentView[] }>('GET', `/submissions/${submissionId}/comments`).then(
    ({ comments }) => fill(el, commentsSection(ctx, submissionId, comments, redraw)),
    (err: unknown) => fill(el, errorBox(err)),
  );
}

/** "Needs review": failed jobs without a comment, newest first. */
export function reviewPage(_ctx: Ctx): Page {
  const body = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  const el = h(
    'section',
    { class: 'review-page' },
    h('h1', null, 'Needs review'),
    h(
      'p',
      { class: 'muted' },
      'Failed jobs without a comment, newest first. A comment (or a carried-over bug reference) takes a job off this list.',
    ),
    body,
  );
  const load = () =>
    api<{ jobs: ReviewItem[] }>('GET', '/review?limit=200').then(
      ({ jobs }) =>
        fill(
          body,
          jobs.length === 0
            ? h('p', { class: 'empty' }, 'Nothing needs review: every failed job has a comment.')
            : h(
                'table',
                { class: 'list review-list' },
                h(
                  'thead',
                  null,
                  h(
                    'tr',
                    null,
                    ['Job', 'Name', 'Result', 'Host', 'Ended', 'Labels', 'Reason'].map((t) => h('th', null, t)),
                  ),
                ),
                h(
                  'tbody',
                  null,
                  jobs.map((j) =>
                    h(
                      'tr',
                      { 'data-job': j.jobId },
                      h('td', null, link(`/jobs/${j.jobId}`, j.jobId)),
                      h('td', null, j.name),
                      h('td', null, resultBadge(j.result.kind, true)),
                      h('td', null, j.hostId),
                      h('td', null, time(j.endedAt)),
                      h('td', null, j.labels.join(', ')),
                      h('td', { class: 'message' }, 'reason' in j.result ? (j.result.reason ?? '') : ''),
                    ),
                  ),
                ),
              ),
        ),
      (err: unknown) => fill(body, errorBox(err)),
    );
  const stop = onLive((e) => {
    if (e.type === 'submission' || e.type === 'submissions') void load();
  });
  void load();
  return { el, dispose: stop };
}

/** The "Rerun failed" button of a finished submission with failed, aborted or skipped jobs. */
export function rerunFailedButton(
  ctx: Ctx,
  view: { id: string; state: string; jobs: { result?: { kind: string } }[] },
): HTMLElement | null {
  if (view.state !== 'done' || !view.jobs.some((j) => ['failed', 'aborted', 'skipped'].includes(j.result?.kind ?? '')))
    return null;
  const b = h(
    'button',
    {
      'data-action': 'rerun-failed',
      title: 'rerun its failed, aborted and skipped jobs as one new submission (testbay restart ID --failed)',
    },
    'Rerun failed',
  );
  b.addEventListener(
    'click',
    () =>
      void act(ctx, b, `rerun failed of ${view.id}`, async () => {
        const created = await api<{ id: string }>('POST', `/submissions/${view.id}/restart`, { failed: true });
        ctx.navigate(`/submissions/${created.id}`);
      }),
  );
  return b;
}
