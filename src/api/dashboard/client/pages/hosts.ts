/**
 * @module The lab: every host with its state (idle, leased, reserved with how to connect, maintenance, broken with the
 * reason, offline), the job it runs now (linked to its page), its recent infrastructure
 * aborts, and for operators the maintenance on/off and clear-broken buttons; then the
 * lease queue with each request's waiting reason. Redrawn when the scheduler's view
 * changes or a job changes state.
 */
import type { HostWithJob, LabWithJobs } from '../../../host-jobs.js';
import { api } from '../api.js';
import { debounce, fill, h } from '../dom.js';
import { causeChip, stateBadge, time } from '../format.js';
import { onLive } from '../live.js';
import { act, errorBox, link, type Ctx, type Page } from '../page.js';
import { auditPanel } from '../audit-panel.js';
import { reservationPanel, reserveButton } from '../reservation-panel.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** A lease's requester is a recipe set (`rs-<submission>-<n>`) or batch run (`batch-…`) workflow: link its submission. */
function submissionOf(requester: string): string | undefined {
  return /^(?:rs|batch)-([a-z0-9]+)-[0-9]+$/.exec(requester)?.[1];
}

export function hostsPage(ctx: Ctx): Page {
  const body = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  const audit = auditPanel(ctx, 'kind=host');
  const el = h('section', { class: 'hosts' }, h('h1', null, 'Hosts'), body, audit.el);
  const load = async () => {
    try {
      const lab = await api<LabWithJobs>('GET', '/hosts');
      fill(body, taskFailuresLine(ctx, lab), hostsTable(ctx, lab), queueTable(lab));
      audit.reload();
      if (location.hash) document.getElementById(location.hash.slice(1))?.classList.add('highlight');
    } catch (err) {
      fill(body, errorBox(err));
    }
  };
  const refresh = debounce(() => void load(), 200);
  // A chain's next job starts under the same lease: job state changes matter too, progress does not.
  const states = new Map<string, string>();
  const stop = onLive((e) => {
    if (e.type === 'job') {
      const changed = states.get(e.id) !== e.state;
      states.set(e.id, e.state);
      if (changed || e.result) refresh();
    } else if (e.type === 'lab') {
      refresh();
    }
  });
  void load();
  return {
    el,
    dispose: () => {
      stop();
      refresh.cancel();
    },
  };
}

function actions(ctx: Ctx, host: HostWithJob): HTMLElement {
  // Anyone who may submit may borrow an idle host; an operator any host without a lease.
  const lendable = host.online && !host.lease && (host.state === 'idle' || ctx.session.canOperate);
  if (!ctx.session.canOperate)
    return lendable
      ? h('span', { class: 'actions' }, reserveButton(ctx, host.id))
      : h('span', { class: 'muted', title: 'host actions need an operator token' }, '—');
  const buttons: HTMLButtonElement[] = [];
  if (lendable) buttons.push(reserveButton(ctx, host.id));
  const maintenance = h(
    'button',
    { class: 'small', 'data-action': host.maintenance ? 'maintenance-off' : 'maintenance-on' },
    host.maintenance ? 'End maintenance' : 'Maintenance',
  );
  maintenance.addEventListener(
    'click',
    () =>
      void act(ctx, maintenance, `${host.id}: maintenance ${host.maintenance ? 'off' : 'on'}`, () =>
        api('POST', `/hosts/${host.id}/maintenance`, { on: !host.maintenance }),
      ),
  );
  buttons.push(maintenance);
  if (host.broken) {
    const clear = h('button', { class: 'small', 'data-action': 'clear-broken' }, 'Clear broken');
    clear.addEventListener(
      'click',
      () => void act(ctx, clear, `${host.id}: clear broken`, () => api('POST', `/hosts/${host.id}/clear-broken`, {})),
    );
    buttons.push(clear);
  }
  if (host.canPower) {
    // The same command as `testbay power HOST on|off|cycle`.
    for (const action of ['on', 'off', 'cycle'] as const) {
      const power = h('button', { class: 'small', 'data-action': `power-${action}` }, `Power ${action}`);
      power.addEventListener(
        'click',
        () =>
          void act(ctx, power, `${host.id}: power ${action}`, () => api('POST', `/hosts/${host.id}/power`, { action })),
      );
      buttons.push(power);
    }
  }
  return h('span', { class: 'actions' }, buttons);
}

function currentJob(ctx: Ctx, host: HostWithJob): Node | string {
  if (!host.lease) return host.reservedFor ? h('span', { class: 'muted' }, `held for ${host.reservedFor}`) : '';
  if (host.lease.reservation) return reservationPanel(ctx, host.lease.reservation, host.id);
  const sub = submissionOf(host.lease.requester);
  const job = host.currentJob;
  const lease = h(
    'div',
    { class: 'muted' },
    sub ? link(`/submissions/${sub}`, host.lease.label) : host.lease.label,
    host.lease.healthCheck ? ' (health check)' : '',
    ' · leased ',
    time(iso(host.lease.since)),
  );
  if (!job) return h('span', null, lease);
  return h(
    'span',
    { class: 'current-job', 'data-job': job.id },
    link(`/jobs/${job.id}`, h('b', null, job.name), ' ', h('code', null, job.id)),
    ' ',
    stateBadge(job.state),
    job.progress?.module ? h('span', { class: 'muted' }, ` module ${job.progress.module}`) : null,
    lease,
  );
}

function reason(host: HostWithJob): Node | string {
  const parts: (Node | string)[] = [];
  if (host.broken)
    parts.push(
      h(
        'div',
        { class: 'broken-reason' },
        h('b', null, `broken (${host.broken.source}): `),
        host.broken.reason,
        ' ',
        time(iso(host.broken.at)),
      ),
    );
  if (host.offline) parts.push(h('div', null, h('b', null, 'offline: '), host.offline.reason));
  if (host.check)
    parts.push(
      h(
        'div',
        null,
        'health check ',
        link(`/submissions/${host.check.submissionId}`, host.check.submissionId),
        `: ${host.check.why}`,
      ),
    );
  if (host.maintenance) parts.push(h('div', null, 'in maintenance: not leased'));
  return h('div', null, parts);
}

function abortsList(host: HostWithJob): Node | string {
  if (host.recentAborts.length === 0) return h('span', { class: 'muted' }, 'none');
  return h(
    'ul',
    { class: 'aborts' },
    [...host.recentAborts]
      .reverse()
      .slice(0, 5)
      .map((a) =>
        h('li', null, link(`/jobs/${a.jobId}`, a.jobId), ' ', causeChip(a.cause), ' ', a.reason, ' ', time(iso(a.at))),
      ),
    host.consecutiveAborts > 0 ? h('li', { class: 'muted' }, `${host.consecutiveAborts} in a row`) : null,
  );
}

/** A line when a control worker's workflow tasks failed: such a workflow may be stuck. */
function taskFailuresLine(ctx: Ctx, lab: LabWithJobs): Node | string {
  const workers = lab.workflowTaskFailures ?? [];
  if (workers.length === 0) return '';
  const total = workers.reduce((n, w) => n + w.total, 0);
  const latest = workers.flatMap((w) => w.recent).sort((a, b) => (a.at < b.at ? 1 : -1))[0];
  const web = `${ctx.session.temporalWebUrl}/namespaces/${encodeURIComponent(ctx.session.namespace)}/workflows`;
  return h(
    'div',
    { class: 'error-box task-failures', role: 'alert' },
    h('b', null, `${total} workflow task failure${total === 1 ? '' : 's'}`),
    ` in ${workers.map((w) => w.worker).join(', ')}: Temporal retries a failed workflow task for ever, so a workflow may be stuck. `,
    latest
      ? h(
          'span',
          null,
          'Latest ',
          time(latest.at),
          latest.runId ? [' in run ', h('code', null, latest.runId)] : null,
          ': ',
          h('span', { class: 'muted' }, latest.failure.slice(0, 300)),
          '. ',
        )
      : null,
    h('a', { href: web, target: '_blank', rel: 'noopener' }, 'Find it in Temporal Web'),
  );
}

function hostsTable(ctx: Ctx, lab: LabWithJobs): HTMLElement {
  if (lab.hosts.length === 0)
    return h('p', { class: 'empty' }, 'No hosts have registered. Start one with `testbay host --id ID --class CLASS`.');
  return h(
    'table',
    { class: 'list hosts-table' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Host', 'Pool', 'State', 'Worker classes', 'Address', 'Current job', 'Reason', 'Recent aborts', ''].map((t) =>
          h('th', null, t),
        ),
      ),
    ),
    h(
      'tbody',
      null,
      lab.hosts.map((host) =>
        h(
          'tr',
          { id: `host-${host.id}`, 'data-host': host.id, 'data-pool': host.pool, class: `host-${host.state}` },
          h('td', null, h('b', null, host.id)),
          h('td', { class: 'pool' }, host.pool),
          h('td', null, h('span', { class: `badge host-state-${host.state}`, 'data-state': host.state }, host.state)),
          h('td', null, host.workerClasses.join(', ')),
          h('td', null, host.hostname, h('div', { class: 'muted' }, host.address)),
          h('td', null, currentJob(ctx, host)),
          h('td', null, reason(host)),
          h('td', null, abortsList(host)),
          h('td', null, actions(ctx, host)),
        ),
      ),
    ),
  );
}

function queueTable(lab: LabWithJobs): HTMLElement {
  return h(
    'div',
    null,
    h('h2', null, `Lease queue (${lab.queue.length})`),
    lab.queue.length === 0
      ? h('p', { class: 'empty' }, 'Nothing is waiting for a host.')
      : h(
          'table',
          { class: 'list queue' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['Request', 'Pool', 'Priority', 'Waiting since', 'Why it waits'].map((t) => h('th', null, t)),
            ),
          ),
          h(
            'tbody',
            null,
            lab.queue.map((q) => {
              const sub = submissionOf(q.requester);
              return h(
                'tr',
                null,
                h('td', null, sub ? link(`/submissions/${sub}`, q.label) : q.label),
                h('td', null, q.pool),
                h('td', null, String(q.priority)),
                h('td', null, time(iso(q.enqueuedAt))),
                h('td', { class: 'waiting-reason' }, q.waitingReason),
              );
            }),
          ),
        ),
  );
}
