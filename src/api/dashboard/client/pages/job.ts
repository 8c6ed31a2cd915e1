/**
 * @module One job attempt: its status (the result with the abort's cause, or why it
 * waits, or its progress), host, lineage, a link to its workflow in Temporal Web, cancel
 * and restart buttons, per-test results, screenshots, other artifacts, and the log:
 * its last LOG_TAIL_BYTES, followed live over Server-Sent Events while the job runs, with
 * earlier parts loaded on demand (a 1 GB log never goes to the browser whole).
 */
import { parseJobId, submissionOfJob } from '../../../../domain/ids.js';
import type { JobView } from '../../../../domain/views.js';
import type { ArtifactInfo, TestCaseResult } from '../../../store/result-store.js';
import { describeExtensions, type JobExtension } from '../../../../domain/deadline.js';
import { formatDuration } from '../../../../domain/duration.js';

/** What GET /jobs/:id returns. */
export interface JobDetails extends JobView {
  kind: 'job';
  submissionId: string;
  tests: TestCaseResult[];
  artifacts: ArtifactInfo[];
  logBytes: number;
  /** its scenario's key */
  scenario?: string;
  /** bytes the host saved by optimising PNG screenshots losslessly */
  savedBytes?: number;
  /** extensions of its deadline while it ran, and their sum */
  extensions?: JobExtension[];
  extendedMs?: number;
  /** while it runs: its spec's timeoutMs, and when that stops it (ISO) */
  timeoutMs?: number;
  deadline?: string;
  /** the job's chain workflow once it has a host, else the submission's */
  temporalWebUrl: string;
  submissionWebUrl: string;
  /** set while the job's host is kept for a person after it */
  reservation?: Reservation;
}
import { api, blobUrl, eventStreamUrl, logPart } from '../api.js';
import { debounce, fill, h, type Child } from '../dom.js';
import { bytes, causeChip, duration, jobBadge, progressBar, RESULT_ICON, time, WAITING_ICON } from '../format.js';
import { onLive } from '../live.js';
import { auditPanel } from '../audit-panel.js';
import { act, errorBox, link, type Ctx, type Page } from '../page.js';
import { drawJobReview } from '../review.js';
import { reservationPanel } from '../reservation-panel.js';
import type { Reservation } from '../../../../domain/reservation.js';

/** How much of a log the page shows at first, and loads each time "earlier" is asked for. */
const LOG_TAIL_BYTES = 256 * 1024;

const artifactPath = (jobId: string, name: string) =>
  `/jobs/${jobId}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`;

/** Screenshots shown on the page, and the type their blob gets (never one a runner chose). */
const IMAGE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
};
const imageTypeOf = (name: string) => IMAGE_TYPES[/\.([a-z]+)$/i.exec(name)?.[1]?.toLowerCase() ?? ''];

/** Fetches a file with the token in the header and saves it (a download, never shown). */
async function download(path: string, filename: string): Promise<void> {
  const url = await blobUrl(path, 'application/octet-stream');
  const a = h('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function jobPage(ctx: Ctx, id: string): Page {
  const submissionId = submissionOfJob(id);
  const status = h('div', { class: 'job-status' }, h('p', { class: 'loading' }, 'Loading…'));
  const results = h('div', { class: 'job-results' });
  const review = h('div', { class: 'job-review' });
  const logState = h('span', { class: 'log-state' }, 'connecting…');
  const logBox = h('pre', { class: 'log', id: 'log', tabindex: 0 });
  /** where the text on the page begins in the log (0: all of it is shown) */
  let shownFrom = 0;
  const earlier = h(
    'button',
    { type: 'button', class: 'small-link log-earlier', 'data-action': 'log-earlier', hidden: true },
    'load earlier',
  );
  const showEarlier = () => {
    earlier.hidden = shownFrom === 0;
    earlier.textContent = `load earlier (${bytes(shownFrom)} before)`;
  };
  earlier.addEventListener('click', () => {
    earlier.disabled = true;
    logPart(id, `end=${shownFrom}&tail=${LOG_TAIL_BYTES}`)
      .then((part) => {
        const height = logBox.scrollHeight;
        logBox.prepend(part.text);
        logBox.scrollTop += logBox.scrollHeight - height;
        shownFrom = part.start;
        showEarlier();
      })
      .catch((err: unknown) =>
        ctx.notify(`could not load the log: ${err instanceof Error ? err.message : String(err)}`, 'error'),
      )
      .finally(() => (earlier.disabled = false));
  });
  const rawLog = h('a', { href: '#', class: 'small-link', 'data-action': 'download-log' }, 'download');
  rawLog.addEventListener('click', (e) => {
    e.preventDefault();
    download(`/jobs/${id}/log`, `${id}.log`).catch((err: unknown) =>
      ctx.notify(`download failed: ${err instanceof Error ? err.message : String(err)}`, 'error'),
    );
  });
  // What people did to this job and its submission (cancel, restart, keep, comments).
  const audit = auditPanel(ctx, `target=${submissionId}&children=1`);
  const el = h(
    'section',
    { class: 'job', 'data-id': id },
    status,
    review,
    results,
    h('h2', null, 'Log ', logState, ' ', rawLog),
    earlier,
    logBox,
    audit.el,
  );

  let shownResults = '';
  /** the history, investigation and comments are redrawn when the job's result changes */
  let shownReview = '';
  /** blob URLs of the screenshots on the page, revoked when they are redrawn or the page goes */
  let images: string[] = [];
  const dropImages = () => {
    for (const u of images) URL.revokeObjectURL(u);
    images = [];
  };
  const load = async () => {
    try {
      const job = await api<JobDetails | { kind: 'batch-run' }>('GET', `/jobs/${id}`);
      // A batch run is shown on its submission's page, with its batches and their logs.
      if (job.kind === 'batch-run') {
        ctx.navigate(`/submissions/${submissionId}`);
        return;
      }
      drawStatus(ctx, status, job);
      const reviewKey = JSON.stringify([job.scenario, job.result?.kind]);
      if (reviewKey !== shownReview) {
        shownReview = reviewKey;
        drawJobReview(ctx, review, job);
      }
      audit.reload();
      // Tests and artifacts change rarely: redraw them only when they did (keeps images still).
      const key = JSON.stringify([job.tests, job.artifacts]);
      if (key !== shownResults) {
        shownResults = key;
        dropImages();
        fill(
          results,
          testsSection(job.tests),
          artifactsSection(ctx, job, (u) => images.push(u)),
        );
      }
    } catch (err) {
      fill(status, errorBox(err));
    }
  };
  const refresh = debounce(() => void load(), 250);
  const stop = onLive((e) => {
    if ((e.type === 'job' && e.id === id) || (e.type === 'submission' && e.id === submissionId) || e.type === 'lab')
      refresh();
  });

  // The log: the server sends its tail on every (re)connect (a `start` event says where it
  // begins), so start afresh then.
  const source = new EventSource(eventStreamUrl(`/api/v1/jobs/${id}/log?follow=1&tail=${LOG_TAIL_BYTES}`));
  source.addEventListener('open', () => {
    logBox.textContent = '';
    logState.textContent = 'following live';
    logState.className = 'log-state following';
  });
  source.addEventListener('start', (e) => {
    logBox.textContent = '';
    shownFrom = (JSON.parse((e as MessageEvent<string>).data) as { start: number }).start;
    showEarlier();
  });
  source.addEventListener('log', (e) => {
    const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 8;
    logBox.append(JSON.parse((e as MessageEvent<string>).data) as string);
    if (atBottom) logBox.scrollTop = logBox.scrollHeight;
  });
  source.addEventListener('end', () => {
    source.close();
    logState.textContent = 'complete';
    logState.className = 'log-state ended';
    refresh();
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) return;
    logState.textContent = 'reconnecting…';
    logState.className = 'log-state';
  });
  void load();
  return {
    el,
    dispose: () => {
      stop();
      refresh.cancel();
      source.close();
      dropImages();
    },
  };
}

function resultBox(job: JobDetails): HTMLElement | null {
  const r = job.result;
  if (!r) {
    if (job.state === 'waiting' || (job.state === 'scheduled' && job.waitingReason)) {
      return h(
        'div',
        { class: 'waiting-box', 'data-state': job.state },
        h('b', null, `${WAITING_ICON} Waiting: `),
        job.waitingReason ?? 'queued',
      );
    }
    return job.progress ? h('div', { class: 'progress-box' }, progressBar(job.progress)) : null;
  }
  if (r.kind === 'aborted') {
    return h(
      'div',
      { class: 'result-box result-aborted', 'data-result': 'aborted' },
      h('div', { class: 'result-title' }, `${RESULT_ICON.aborted} Aborted — infrastructure fault, not a test failure`),
      h('div', null, 'cause ', causeChip(r.cause), ' ', r.reason),
      job.retriedAs
        ? h('div', null, '→ re-scheduled on another host as ', link(`/jobs/${job.retriedAs}`, job.retriedAs))
        : null,
    );
  }
  if (r.kind === 'failed') {
    return h(
      'div',
      { class: 'result-box result-failed', 'data-result': 'failed' },
      h(
        'div',
        { class: 'result-title' },
        `${RESULT_ICON.failed} Failed — the test says the system under test is wrong`,
      ),
      h('div', null, r.reason),
    );
  }
  return h(
    'div',
    { class: `result-box result-${r.kind}`, 'data-result': r.kind },
    h('div', { class: 'result-title' }, `${RESULT_ICON[r.kind]} ${r.kind[0]!.toUpperCase()}${r.kind.slice(1)}`),
    'reason' in r && r.reason ? h('div', null, r.reason) : null,
  );
}

function drawStatus(ctx: Ctx, el: HTMLElement, job: JobDetails): void {
  // A batch of a batch run is `<submission>.<run>.<batch>`: its run is `<submission>.<run>`.
  const parsed = parseJobId(job.id);
  const run = parsed.kind === 'batch' ? parsed.runJobId : undefined;
  const cancel = h('button', { class: 'danger', 'data-action': 'cancel-job' }, 'Cancel');
  cancel.title = 'cancels the whole chain this job belongs to';
  cancel.addEventListener(
    'click',
    () => void act(ctx, cancel, `cancel ${job.id}`, () => api('POST', `/jobs/${job.id}/cancel`, {})),
  );
  // The same command as `testbay extend JOB --by 30m`.
  const extend = h('button', { 'data-action': 'extend-job' }, 'Extend by 30 min');
  extend.title = 'give the running job 30 more minutes (within TESTBAY_MAX_EXTEND_MS in all)';
  extend.addEventListener(
    'click',
    () => void act(ctx, extend, `extend ${job.id}`, () => api('POST', `/jobs/${job.id}/extend`, { byMs: 30 * 60_000 })),
  );
  const children = h('input', { type: 'checkbox', checked: true, 'aria-label': 'with the jobs that depend on it' });
  const restart = h('button', { 'data-action': 'restart-job' }, 'Restart');
  restart.addEventListener(
    'click',
    () =>
      void act(ctx, restart, `restart ${job.id}`, async () => {
        const created = await api<{ id: string }>('POST', `/jobs/${job.id}/restart`, { children: children.checked });
        ctx.navigate(`/submissions/${created.id}`);
      }),
  );
  const fact = (label: string, ...value: Child[]) => [h('dt', null, label), h('dd', null, ...value)];
  fill(
    el,
    h(
      'p',
      { class: 'crumbs' },
      link(`/submissions/${job.submissionId}`, `submission ${job.submissionId}`),
      run ? [' / batch run ', h('code', null, run), ' / batch'] : ' / job',
    ),
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, job.name, ' ', h('code', null, job.id)),
      h('span', { class: 'head-badge' }, jobBadge(job)),
      // A batch is run (and rerun, and cancelled) by its batch run, on the submission's page.
      run
        ? null
        : job.result
          ? [restart, h('label', { class: 'small' }, children, ' with dependent jobs')]
          : [extend, ' ', cancel],
    ),
    resultBox(job),
    job.reservation && job.hostId ? reservationPanel(ctx, job.reservation, job.hostId) : null,
    h(
      'dl',
      { class: 'facts-grid' },
      fact('state', job.state),
      fact(
        'host',
        job.hostId ? link(`/hosts#host-${job.hostId}`, job.hostId) : h('span', { class: 'muted' }, 'none yet'),
      ),
      fact(
        'attempt',
        String(job.attempt),
        job.clonedFrom
          ? h('span', { class: 'clone-mark' }, ' ↻ re-runs ', link(`/jobs/${job.clonedFrom}`, job.clonedFrom))
          : null,
      ),
      job.retriedAs ? fact('re-scheduled as', link(`/jobs/${job.retriedAs}`, job.retriedAs)) : [],
      run
        ? fact('batch run', link(`/submissions/${job.submissionId}`, run))
        : [fact('worker class', job.workerClass), fact('recipe set', String(job.setNumber))],
      fact('started', time(job.startedAt)),
      fact('ended', time(job.endedAt)),
      fact('duration', duration(job.startedAt, job.endedAt)),
      job.deadline || job.extensions?.length
        ? fact(
            'deadline',
            job.deadline
              ? [
                  h(
                    'time',
                    { datetime: job.deadline, title: job.deadline, 'data-deadline': '' },
                    `stops at ${new Date(job.deadline).toLocaleTimeString()}`,
                  ),
                  job.extensions?.length ? ', ' : '',
                ]
              : [],
            job.extensions?.length
              ? h(
                  'span',
                  { 'data-extended-ms': String(job.extendedMs ?? 0) },
                  `extended by ${formatDuration(job.extendedMs ?? 0)}`,
                )
              : [],
            job.extensions?.length ? h('span', { class: 'muted' }, ` (${describeExtensions(job.extensions)})`) : [],
          )
        : [],
      fact(
        'workflows',
        job.temporalWebUrl !== job.submissionWebUrl
          ? [
              h(
                'a',
                {
                  href: job.temporalWebUrl,
                  target: '_blank',
                  rel: 'noopener',
                  class: 'temporal-link',
                  'data-workflow': 'job',
                },
                `${decodeURIComponent(job.temporalWebUrl.slice(job.temporalWebUrl.lastIndexOf('/') + 1))} ↗`,
              ),
              ' · ',
            ]
          : null,
        h(
          'a',
          {
            href: job.submissionWebUrl,
            target: '_blank',
            rel: 'noopener',
            class: 'temporal-link',
            'data-workflow': 'submission',
          },
          `${decodeURIComponent(job.submissionWebUrl.slice(job.submissionWebUrl.lastIndexOf('/') + 1))} ↗`,
        ),
        ' in Temporal Web',
      ),
    ),
  );
}

function testsSection(tests: TestCaseResult[]): HTMLElement {
  if (tests.length === 0)
    return h('div', null, h('h2', null, 'Tests'), h('p', { class: 'empty' }, 'No per-test results (yet).'));
  const failed = tests.filter((t) => t.status === 'failed' || t.status === 'error').length;
  return h(
    'div',
    null,
    h('h2', null, `Tests (${tests.length}${failed ? `, ${failed} failed` : ''})`),
    h(
      'table',
      { class: 'list tests' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Test', 'Class', 'Status', 'Duration', 'Message'].map((t) => h('th', null, t)),
        ),
      ),
      h(
        'tbody',
        null,
        tests.map((t) =>
          h(
            'tr',
            { class: `test-${t.status}` },
            h('td', null, t.name),
            h('td', null, t.classname ?? ''),
            h('td', null, h('span', { class: `badge test-${t.status}` }, t.status)),
            h('td', null, t.durationMs !== undefined ? `${(t.durationMs / 1000).toFixed(2)} s` : ''),
            h('td', { class: 'message' }, t.message ?? ''),
          ),
        ),
      ),
    ),
  );
}

function artifactsSection(ctx: Ctx, job: JobDetails, keep: (blobUrl: string) => void): HTMLElement {
  const images = job.artifacts.filter((a) => imageTypeOf(a.name) !== undefined);
  const others = job.artifacts.filter((a) => !images.includes(a));
  const figure = (a: ArtifactInfo) => {
    const img = h('img', { alt: a.name, 'data-artifact': a.name });
    const open = h('a', { target: '_blank', rel: 'noopener' }, img);
    // Fetched with the token in a header: the API takes no token in an image URL.
    blobUrl(artifactPath(job.id, a.name), imageTypeOf(a.name)!).then(
      (url) => {
        keep(url);
        img.src = url;
        open.href = url;
      },
      () => img.replaceWith(h('span', { class: 'muted' }, 'could not load')),
    );
    return h('figure', null, open, h('figcaption', null, a.name));
  };
  const file = (a: ArtifactInfo) => {
    const link = h('a', { href: '#', 'data-artifact': a.name, title: 'download' }, a.name);
    link.addEventListener('click', (e) => {
      e.preventDefault();
      download(artifactPath(job.id, a.name), a.name.slice(a.name.lastIndexOf('/') + 1)).catch((err: unknown) =>
        ctx.notify(`download failed: ${err instanceof Error ? err.message : String(err)}`, 'error'),
      );
    });
    return h('li', null, link, ` (${bytes(a.sizeBytes)})`);
  };
  return h(
    'div',
    null,
    h(
      'h2',
      null,
      `Screenshots (${images.length})`,
      job.savedBytes
        ? h(
            'span',
            { class: 'muted', 'data-saved-bytes': String(job.savedBytes) },
            ` · ${bytes(job.savedBytes)} saved by lossless PNG optimisation`,
          )
        : '',
    ),
    images.length === 0 ? h('p', { class: 'empty' }, 'None.') : h('div', { class: 'screenshots' }, images.map(figure)),
    h('h2', null, `Artifacts (${others.length})`),
    others.length === 0 ? h('p', { class: 'empty' }, 'None.') : h('ul', { class: 'artifacts' }, others.map(file)),
  );
}
