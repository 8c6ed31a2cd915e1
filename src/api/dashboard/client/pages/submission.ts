/**
 * @module One submission: its result, why jobs wait, its batch runs (progress, isolated,
 * lost and failed tests, batches on hosts with their live logs), the dependency graph,
 * every job attempt (state, result with the abort's cause, host, progress, lineage) and
 * its recipe sets, with cancel and restart buttons. Redrawn on live hints, without a
 * reload.
 */
import type { Plan } from '../../../../domain/plan.js';
import type { JobView, SubmissionView } from '../../../../domain/views.js';
import { api } from '../api.js';
import { debounce, fill, h } from '../dom.js';
import { duration, jobBadge, jobDetail, resultBadge, stateBadge, time, WAITING_ICON } from '../format.js';
import { batchRunPanel } from '../batch-runs.js';
import { dependencyGraph, graphLegend } from '../graph.js';
import { onLive } from '../live.js';
import { act, errorBox, link, temporalWorkflowUrl, type Ctx, type Page } from '../page.js';
import { drawSubmissionComments, rerunFailedButton } from '../review.js';

export function submissionPage(ctx: Ctx, id: string): Page {
  const el = h('section', { class: 'submission', 'data-id': id }, h('p', { class: 'loading' }, 'Loading…'));
  let plan: Plan | undefined;
  let running = true;
  const load = async () => {
    try {
      plan ??= await api<Plan>('GET', `/submissions/${id}/plan`);
      const view = await api<SubmissionView>('GET', `/submissions/${id}`);
      running = view.state === 'running';
      draw(ctx, el, view, plan);
    } catch (err) {
      fill(el, errorBox(err));
    }
  };
  const refresh = debounce(() => void load(), 250);
  const stop = onLive((e) => {
    if (
      (e.type === 'job' && e.submissionId === id) ||
      (e.type === 'submission' && e.id === id) ||
      (e.type === 'lab' && running)
    )
      refresh();
  });
  // A safety net for changes only the workflow knows (a clone being added) between hints;
  // `?poll=0` turns it off (to see what live updates alone do), `?poll=<s>` sets it.
  const pollS = Number(new URLSearchParams(location.search).get('poll') ?? '5');
  const timer = pollS > 0 ? window.setInterval(() => running && refresh(), pollS * 1000) : undefined;
  void load();
  // Comments live beside the view (redrawn on their own, so a live redraw keeps a comment being typed).
  const comments = h('div', { class: 'submission-comments' });
  drawSubmissionComments(ctx, comments, id);
  return {
    el: h('div', null, el, comments),
    dispose: () => {
      stop();
      refresh.cancel();
      window.clearInterval(timer);
    },
  };
}

function draw(ctx: Ctx, el: HTMLElement, view: SubmissionView, plan: Plan): void {
  const cancel = h('button', { class: 'danger', 'data-action': 'cancel-submission' }, 'Cancel submission');
  cancel.addEventListener(
    'click',
    () => void act(ctx, cancel, `cancel ${view.id}`, () => api('POST', `/submissions/${view.id}/cancel`, {})),
  );
  // Kept submissions outlive the result store's retention until unmarked (testbay keep).
  const keep = h(
    'button',
    { class: 'small', 'data-action': view.keep ? 'unkeep-submission' : 'keep-submission' },
    view.keep ? 'Unkeep' : 'Keep',
  );
  keep.title = view.keep
    ? 'let retention delete it when its time comes'
    : 'keep its records, logs and artifacts beyond retention until unmarked';
  keep.addEventListener(
    'click',
    () =>
      void act(ctx, keep, `${view.keep ? 'unkeep' : 'keep'} ${view.id}`, () =>
        api('POST', `/submissions/${view.id}/keep`, { keep: !view.keep }),
      ),
  );
  const waiting = view.jobs.filter(
    (j) => (j.state === 'waiting' || j.state === 'scheduled') && !j.result && j.waitingReason,
  );
  const aborted = view.jobs.filter((j) => j.result?.kind === 'aborted');
  const scrollY = window.scrollY;
  fill(
    el,
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Submission ', h('code', null, view.id), view.name ? ` ${view.name}` : ''),
      h('span', { class: 'head-badge' }, view.result ? resultBadge(view.result) : stateBadge('running')),
      view.state === 'running' ? cancel : null,
      rerunFailedButton(ctx, view),
      keep,
    ),
    h(
      'p',
      { class: 'facts' },
      'created ',
      time(view.createdAt),
      view.endedAt
        ? [' · took ', duration(view.createdAt, view.endedAt)]
        : [' · running for ', duration(view.createdAt, undefined)],
      ' · ',
      h(
        'a',
        {
          href: temporalWorkflowUrl(ctx.session, view.workflowId),
          target: '_blank',
          rel: 'noopener',
          class: 'temporal-link',
        },
        `${view.workflowId} in Temporal Web ↗`,
      ),
      view.restartOf
        ? [
            ' · restarts job ',
            link(`/jobs/${view.restartOf.jobId}`, view.restartOf.jobId),
            ' of ',
            link(`/submissions/${view.restartOf.submissionId}`, view.restartOf.submissionId),
          ]
        : null,
      view.restartedAs?.length
        ? [' · restarted as ', view.restartedAs.map((r, i) => [i ? ', ' : '', link(`/submissions/${r}`, r)])]
        : null,
      view.keep ? h('span', { class: 'kept', 'data-kept': 'true' }, ' · kept beyond retention') : null,
    ),
    view.notice ? h('div', { class: 'error-box' }, view.notice) : null,
    waiting.length > 0
      ? h(
          'div',
          { class: 'waiting-box', role: 'status' },
          h('b', null, `${WAITING_ICON} Waiting`),
          h(
            'ul',
            null,
            waiting.map((j) =>
              h('li', { 'data-job': j.id }, link(`/jobs/${j.id}`, j.name), ': ', j.waitingReason ?? ''),
            ),
          ),
        )
      : null,
    aborted.length > 0
      ? h(
          'div',
          { class: 'aborted-box' },
          h('b', null, '⚠ Infrastructure aborts (not test failures)'),
          h(
            'ul',
            null,
            aborted.map((j) =>
              h(
                'li',
                null,
                link(`/jobs/${j.id}`, `${j.name} (${j.id})`),
                ' on ',
                j.hostId ?? '?',
                ': ',
                jobDetail(j),
                j.retriedAs ? [' → re-scheduled as ', link(`/jobs/${j.retriedAs}`, j.retriedAs)] : '',
              ),
            ),
          ),
        )
      : null,
    view.batchRuns?.length
      ? [h('h2', null, `Batch runs (${view.batchRuns.length})`), view.batchRuns.map((r) => batchRunPanel(ctx, r))]
      : null,
    // A submission of batch runs alone has no job graph to draw.
    view.jobs.length > 0 || !view.batchRuns?.length
      ? [
          h('h2', null, 'Dependency graph'),
          h(
            'div',
            { class: 'graph-wrap' },
            dependencyGraph(view, plan, (jobId) => ctx.navigate(`/jobs/${jobId}`)),
          ),
          graphLegend(),
          h('h2', null, 'Jobs'),
          jobsTable(ctx, view),
          h('h2', null, 'Recipe sets'),
          setsTable(view),
        ]
      : null,
  );
  window.scrollTo(0, scrollY);
}

function jobActions(ctx: Ctx, j: JobView): HTMLElement | null {
  if (!j.result) {
    const b = h('button', { class: 'small danger', 'data-action': 'cancel-job' }, 'Cancel');
    b.title = 'cancels the whole chain this job belongs to';
    b.addEventListener(
      'click',
      () => void act(ctx, b, `cancel ${j.id}`, () => api('POST', `/jobs/${j.id}/cancel`, {})),
    );
    return b;
  }
  if (j.retriedAs) return null;
  const b = h('button', { class: 'small', 'data-action': 'restart-job' }, 'Restart');
  b.title = 're-run this job (with its chain ancestors and the jobs that depend on it) as a new submission';
  b.addEventListener(
    'click',
    () =>
      void act(ctx, b, `restart ${j.id}`, async () => {
        const created = await api<{ id: string }>('POST', `/jobs/${j.id}/restart`, { children: true });
        ctx.navigate(`/submissions/${created.id}`);
      }),
  );
  return b;
}

function jobsTable(ctx: Ctx, view: SubmissionView): HTMLElement {
  return h(
    'table',
    { class: 'list jobs' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Job', 'ID', 'Attempt', 'State / result', 'Host', 'Why / progress', 'Lineage', ''].map((t) =>
          h('th', null, t),
        ),
      ),
    ),
    h(
      'tbody',
      null,
      view.jobs.map((j) =>
        h(
          'tr',
          { 'data-job': j.id, 'data-name': j.name, class: j.result ? `row-${j.result.kind}` : `row-${j.state}` },
          h('td', null, link(`/jobs/${j.id}`, j.name)),
          h('td', null, h('code', null, j.id)),
          h('td', null, String(j.attempt)),
          h('td', { class: 'status-cell' }, jobBadge(j)),
          h('td', null, j.hostId ? link(`/hosts#host-${j.hostId}`, j.hostId) : '–'),
          h('td', { class: 'detail' }, jobDetail(j)),
          h(
            'td',
            { class: 'lineage' },
            j.clonedFrom
              ? h('span', { class: 'clone-mark' }, '↻ re-runs ', link(`/jobs/${j.clonedFrom}`, j.clonedFrom))
              : null,
            j.retriedAs ? h('span', null, '→ re-scheduled as ', link(`/jobs/${j.retriedAs}`, j.retriedAs)) : null,
          ),
          h('td', null, jobActions(ctx, j)),
        ),
      ),
    ),
  );
}

function setsTable(view: SubmissionView): HTMLElement {
  if (view.recipeSets.length === 0) return h('p', { class: 'empty' }, 'No recipe sets known yet.');
  return h(
    'table',
    { class: 'list sets' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Set', 'Attempt', 'State', 'Jobs', 'Hosts', 'Excluded hosts', 'Notes'].map((t) => h('th', null, t)),
      ),
    ),
    h(
      'tbody',
      null,
      view.recipeSets.map((rs) =>
        h(
          'tr',
          null,
          h(
            'td',
            null,
            String(rs.number),
            rs.clonedFrom ? h('span', { class: 'clone-mark' }, ` ↻ clone of set ${rs.clonedFrom}`) : null,
          ),
          h('td', null, String(rs.attempt)),
          h('td', null, stateBadge(rs.state)),
          h(
            'td',
            null,
            rs.jobIds.map((id, i) => [i ? ', ' : '', link(`/jobs/${id}`, id)]),
          ),
          h('td', null, rs.hosts.join(', ')),
          h('td', null, rs.excludedHosts.join(', ')),
          h('td', null, rs.notRetried ?? ''),
        ),
      ),
    ),
  );
}
