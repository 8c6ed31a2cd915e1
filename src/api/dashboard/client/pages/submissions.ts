/**
 * @module The submissions list, newest first, with filters (state, result, host, text, scenario)
 * kept in the address bar; rows update live as submissions start and end.
 */
import { RESULT_KINDS } from '../../../../domain/outcome.js';
import type { LabWithJobs } from '../../../host-jobs.js';
import type { SubmissionSummary } from '../../../../domain/wire/submissions.js';
import { api } from '../api.js';
import { debounce, fill, h } from '../dom.js';
import { duration, resultBadge, stateBadge, time } from '../format.js';
import { onLive } from '../live.js';
import { errorBox, link, type Ctx, type Page } from '../page.js';

export function submissionsPage(ctx: Ctx): Page {
  const params = new URLSearchParams(location.search);
  const select = (name: string, options: readonly string[]) =>
    h(
      'select',
      { name, 'aria-label': name },
      h('option', { value: '' }, `any ${name}`),
      options.map((o) => h('option', { value: o, selected: params.get(name) === o }, o)),
    );
  const state = select('state', ['running', 'done']);
  const result = select('result', RESULT_KINDS);
  const hostList = h('datalist', { id: 'host-ids' });
  const host = h('input', {
    name: 'host',
    placeholder: 'host',
    list: 'host-ids',
    value: params.get('host') ?? '',
    size: 10,
  });
  const text = h('input', {
    name: 'q',
    type: 'search',
    placeholder: 'id, name or job',
    value: params.get('q') ?? '',
    size: 24,
  });
  const scenario = h('input', {
    name: 'scenario',
    placeholder: 'scenario key',
    value: params.get('scenario') ?? '',
    size: 24,
  });
  const form = h('form', { class: 'filters' }, state, result, host, hostList, text, scenario);
  const body = h('div', { class: 'table-wrap' }, h('p', { class: 'loading' }, 'Loading…'));
  const el = h(
    'section',
    null,
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Submissions'),
      h('a', { href: '/submissions/new', class: 'button' }, '+ New submission'),
    ),
    form,
    body,
  );

  const query = () => {
    const q = new URLSearchParams();
    for (const field of [state, result, host, text, scenario]) if (field.value) q.set(field.name, field.value);
    return q;
  };
  const load = async () => {
    const q = query();
    try {
      const { submissions } = await api<{ submissions: SubmissionSummary[] }>(
        'GET',
        `/submissions?${q.toString()}&limit=100`,
      );
      fill(body, table(submissions));
    } catch (err) {
      fill(body, errorBox(err));
    }
  };
  const refresh = debounce(() => void load(), 300);
  const onFilter = () => {
    const q = query().toString();
    history.replaceState(null, '', q ? `/?${q}` : '/');
    refresh();
  };
  form.addEventListener('input', onFilter);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    onFilter();
  });
  void api<LabWithJobs>('GET', '/hosts').then(
    (lab) =>
      fill(
        hostList,
        lab.hosts.map((hv) => h('option', { value: hv.id })),
      ),
    () => undefined,
  );
  const stop = onLive((e) => {
    if (e.type === 'submissions' || e.type === 'submission' || (e.type === 'job' && e.result)) refresh();
  });
  void load();
  void ctx;
  return {
    el,
    dispose: () => {
      stop();
      refresh.cancel();
    },
  };
}

function table(items: SubmissionSummary[]): HTMLElement {
  if (items.length === 0) return h('p', { class: 'empty' }, 'No submissions match.');
  return h(
    'table',
    { class: 'list submissions' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Submission', 'Result', 'Jobs', 'Hosts', 'Created', 'Took'].map((t) => h('th', null, t)),
      ),
    ),
    h(
      'tbody',
      null,
      items.map((s) =>
        h(
          'tr',
          { 'data-id': s.id, class: s.result ? `row-${s.result}` : 'row-running' },
          h(
            'td',
            null,
            link(`/submissions/${s.id}`, h('code', null, s.id)),
            s.name ? h('span', { class: 'name' }, ` ${s.name}`) : null,
          ),
          h('td', null, s.result ? resultBadge(s.result) : stateBadge(s.state)),
          h(
            'td',
            { class: 'jobs' },
            s.jobNames.length > 6
              ? `${s.jobNames.slice(0, 6).join(', ')} … (${s.jobNames.length})`
              : s.jobNames.join(', '),
          ),
          h('td', null, s.hosts.join(', ')),
          h('td', null, time(s.createdAt)),
          h('td', null, duration(s.createdAt, s.endedAt)),
        ),
      ),
    ),
  );
}
