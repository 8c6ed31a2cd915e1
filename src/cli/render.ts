/**
 * @module How the CLI shows submissions and hosts: tables with one row per job (state,
 * result, host, progress or reason). Failed (the test's verdict) and aborted (the lab's
 * fault) never look alike: different words, and on a terminal different colours.
 */
import { DEFAULT_POOL } from '../domain/ids.js';
import { connectLines, untilText, type Reservation } from '../domain/reservation.js';
import type { ResultKind } from '../domain/outcome.js';
import type { JobView, SubmissionView } from '../domain/views.js';
import type { LabWithJobs } from '../api/host-jobs.js';
import type { HostView } from '../workflows/scheduler-messages.js';

const codes = { green: 32, red: 31, yellow: 33, magenta: 35, gray: 90, bold: 1, cyan: 36 } as const;
type Colour = keyof typeof codes;

export function painter(enabled: boolean) {
  return (colour: Colour, text: string) => (enabled ? `\x1b[${codes[colour]}m${text}\x1b[0m` : text);
}

const resultColour: Record<ResultKind, Colour> = {
  passed: 'green',
  failed: 'red',
  aborted: 'magenta',
  cancelled: 'gray',
  skipped: 'gray',
};

export function describeJob(j: JobView): string {
  if (j.result) {
    if (j.result.kind === 'aborted') return `[${j.result.cause}] ${j.result.reason}`;
    return 'reason' in j.result && j.result.reason ? j.result.reason : '';
  }
  // Waiting for parents or a host, or (scheduled) for the job before it in its chain on the host.
  if ((j.state === 'waiting' || j.state === 'scheduled') && j.waitingReason) return j.waitingReason;
  if (j.state === 'waiting') return '';
  const p = j.progress;
  if (!p) return '';
  return [
    p.module ? `module ${p.module}` : '',
    p.percent !== undefined ? `${Math.round(p.percent)}%` : '',
    p.message ?? '',
  ]
    .filter(Boolean)
    .join(' ');
}

function table(rows: string[][], widths?: number[]): string[] {
  const w = widths ?? rows[0]!.map((_, c) => Math.max(...rows.map((r) => visible(r[c] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell + ' '.repeat(Math.max(0, w[c]! - visible(cell).length))))
      .join('  '),
  );
}

// eslint-disable-next-line no-control-regex -- strips the ANSI colour codes this module adds
const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

export function jobsTable(view: SubmissionView, colour: boolean, maxWidth = 160): string[] {
  const paint = painter(colour);
  const rows = [['JOB', 'ID', 'STATE', 'RESULT', 'HOST', 'DETAIL'].map((h) => paint('bold', h))];
  for (const j of view.jobs) {
    const result = j.result ? paint(resultColour[j.result.kind], j.result.kind.toUpperCase()) : '-';
    const name = j.clonedFrom ? `${j.name} (retry of ${j.clonedFrom})` : j.name;
    rows.push([name, j.id, j.state, result, j.hostId ?? '-', describeJob(j)]);
  }
  return table(rows).map((line) =>
    visible(line).length > maxWidth ? line.slice(0, maxWidth + (line.length - visible(line).length) - 1) + '…' : line,
  );
}

/** One line per batch run: how far it got, in the words of its ledger. */
export function batchRunLines(view: SubmissionView, colour: boolean): string[] {
  const paint = painter(colour);
  return (view.batchRuns ?? []).flatMap((r) => {
    const c = r.counts;
    const done = c.passed + c.failed + c.flaky + c.skipped + c.lost + c.cancelled;
    const state = r.result ? paint(resultColour[r.result], r.result.toUpperCase()) : r.state;
    const parts = [
      `passed ${c.passed}`,
      `failed ${c.failed}`,
      c.flaky ? `flaky ${c.flaky}` : '',
      `lost ${c.lost}`,
      c.cancelled ? `cancelled ${c.cancelled}` : '',
    ].filter(Boolean);
    const live = r.state === 'done' ? '' : `; running ${c.running}, queued ${c.queued}, requeued ${c.requeued}`;
    const lines = [
      `batch run ${r.name} [${r.id}] ${state}: ${done}/${c.total} done (${parts.join(', ')})${live}; ${r.batches} batches on ${r.hosts.length} hosts${r.lostBatches ? `, ${r.lostBatches} lost` : ''}`,
    ];
    if (r.reason) lines.push(`  ${r.reason}`);
    for (const t of r.isolated.slice(0, 5)) lines.push(`  isolated ${t.test}: ${t.reason}`);
    for (const t of r.lost.slice(0, 5)) lines.push(`  ${paint('magenta', 'lost')} ${t.test}: ${t.reason}`);
    for (const t of r.failed.slice(0, 5)) lines.push(`  ${paint('red', 'failed')} ${t.test}: ${t.reason}`);
    return lines;
  });
}

export function submissionHeader(view: SubmissionView, colour: boolean): string {
  const paint = painter(colour);
  const result = view.result ? paint(resultColour[view.result], view.result.toUpperCase()) : 'running';
  return `submission ${view.id}${view.name ? ` (${view.name})` : ''}: ${result}`;
}

export function hostsTable(lab: LabWithJobs, colour: boolean): string[] {
  const paint = painter(colour);
  const stateColour: Record<HostView['state'], Colour> = {
    idle: 'green',
    leased: 'cyan',
    reserved: 'magenta',
    maintenance: 'yellow',
    broken: 'red',
    offline: 'gray',
  };
  // A lab of one pool (the default) needs no pool column.
  const pooled = lab.pools.some((p) => p.pool !== DEFAULT_POOL);
  const rows = [
    ['HOST', ...(pooled ? ['POOL'] : []), 'STATE', 'CLASSES', 'ADDRESS', 'JOB / REASON'].map((h) => paint('bold', h)),
  ];
  for (const h of lab.hosts) {
    const job = h.currentJob;
    const reservation = h.lease?.reservation;
    const detail = reservation
      ? reservationLine(reservation)
      : h.state === 'leased'
        ? job
          ? `${job.name} [${job.id}] ${job.state}${job.progress?.module ? ` (module ${job.progress.module})` : ''}`
          : (h.lease?.label ?? '')
        : h.state === 'broken'
          ? (h.broken?.reason ?? '')
          : h.state === 'offline'
            ? (h.offline?.reason ?? '')
            : h.broken
              ? `broken: ${h.broken.reason}`
              : '';
    rows.push([
      h.id,
      ...(pooled ? [h.pool] : []),
      paint(stateColour[h.state], h.state),
      h.workerClasses.join(','),
      `${h.hostname} ${h.address}`,
      detail,
    ]);
  }
  const lines = table(rows);
  for (const h of lab.hosts) {
    const reservation = h.lease?.reservation;
    if (!reservation) continue;
    lines.push(
      '',
      paint('bold', `${h.id} reserved`) + ` ${reservationLine(reservation)}`,
      ...connectLines(reservation).map((l) => `  ${l}`),
    );
  }
  if (lab.queue.length > 0) {
    lines.push('', paint('bold', `queue (${lab.queue.length})`));
    for (const q of lab.queue)
      lines.push(`  ${q.label}  ${pooled ? `pool ${q.pool}, ` : ''}priority ${q.priority}: ${q.waitingReason}`);
  }
  return lines;
}

/** "by tester until 2026-12-02 15:04 UTC (job `install` failed: …)". */
export function reservationLine(r: Reservation): string {
  return `by ${r.by} until ${untilText(r.until)}${r.jobId ? ` for job ${r.jobId}` : ''} (${r.why})`;
}
