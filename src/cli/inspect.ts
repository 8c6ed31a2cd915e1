/**
 * @module CLI commands that read results and manage hosts beyond the basics: `results`
 * (per-test results of jobs and the verdicts of batch runs, or JUnit XML with --junit),
 * `job` (one job in detail),
 * `artifacts` (list or download), `mark-broken`, `remove-host`, and the table of recent
 * submissions that `status` prints. Every one takes --json for scripts.
 */
import { connectLines } from '../domain/reservation.js';
import { reservationLine } from './render.js';
import fs from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { JobDetails, TestbayClient } from '../api/client.js';
import type { StoredVerdict } from '../domain/wire/batch-runs.js';
import type { SubmissionSummary } from '../domain/wire/submissions.js';
import { loadConfig } from '../config.js';
import { parseJobId } from '../domain/ids.js';
import { describeResult } from '../domain/outcome.js';
import { describeExtensions } from '../domain/deadline.js';
import { formatDuration } from '../domain/duration.js';
import { latestAttempts, type BatchRunView } from '../domain/views.js';
import { junitXml } from './junit.js';
import { clientFor, UsageError } from './lab-target.js';
import { describeJob, painter } from './render.js';

type Command = (args: string[]) => Promise<number>;
const json = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
const client = (): TestbayClient => clientFor(loadConfig());

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** Recent submissions as a table (`status` without an id). */
export function submissionsTable(items: SubmissionSummary[]): string[] {
  if (items.length === 0) return ['no submissions'];
  return table([
    ['SUBMISSION', 'RESULT', 'CREATED', 'HOSTS', 'NAME / JOBS'],
    ...items.map((s) => [
      s.id,
      s.result ?? s.state,
      s.createdAt.replace('T', ' ').slice(0, 19),
      s.hosts.join(',') || '-',
      s.name ?? s.jobNames.join(', '),
    ]),
  ]);
}

/** The counts of a batch run, in one line. */
function batchRunLine(run: BatchRunView): string {
  const c = run.counts;
  const done = c.passed + c.failed + c.flaky + c.skipped + c.lost + c.cancelled;
  return `${done}/${c.total} done: passed ${c.passed}, failed ${c.failed}, flaky ${c.flaky}, lost ${c.lost}${c.skipped ? `, skipped ${c.skipped}` : ''}${c.cancelled ? `, cancelled ${c.cancelled}` : ''}${run.state === 'done' ? '' : `; running ${c.running}, queued ${c.queued}, requeued ${c.requeued}`}`;
}

/** How many failed or lost tests the text output lists per batch run (all are in --json and --junit). */
const LISTED = 50;

export const results: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { junit: { type: 'boolean' }, json: { type: 'boolean' }, output: { type: 'string', short: 'o' } },
  });
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError('usage: testbay results ID [--junit] [--json] [-o FILE]');
  const api = client();
  const parsed = parseJobId(id);
  const view = await api.submission(parsed.submissionId);
  // ID: a submission (its jobs and batch runs), a job, a batch run, or one batch of a batch run.
  const runs =
    parsed.kind === 'submission' ? (view.batchRuns ?? []) : (view.batchRuns ?? []).filter((r) => r.id === id);
  const wanted =
    parsed.kind === 'submission'
      ? latestAttempts(view.jobs)
      : parsed.kind === 'job'
        ? view.jobs.filter((j) => j.id === id)
        : [];
  const details = new Map<string, JobDetails>();
  if (parsed.kind === 'batch') {
    const batch = await api.job(id);
    details.set(batch.id, batch);
  }
  if (wanted.length === 0 && runs.length === 0 && details.size === 0)
    throw new UsageError(`no job or batch run ${id} in submission ${view.id}`);
  for (const d of await Promise.all(wanted.map((j) => api.job(j.id)))) details.set(d.id, d);
  const verdicts = new Map<string, StoredVerdict[]>();
  for (const [runId, v] of await Promise.all(
    runs.map(async (r) => [r.id, (await api.verdicts(r.id)).verdicts] as const),
  ))
    verdicts.set(runId, v);
  if (view.state !== 'done')
    process.stderr.write(`testbay: submission ${view.id} is still running: these are the results so far\n`);
  let text: string;
  if (values.junit) {
    text = junitXml(
      { ...view, jobs: parsed.kind === 'submission' ? view.jobs : [...details.values()], batchRuns: runs },
      details,
      verdicts,
    );
  } else if (values.json) {
    text = `${JSON.stringify(
      {
        submission: view.id,
        state: view.state,
        result: view.result ?? null,
        jobs: [...details.values()].map((d) => ({
          id: d.id,
          name: d.name,
          attempt: d.attempt,
          host: d.hostId ?? null,
          result: d.result ?? null,
          tests: d.tests,
        })),
        batchRuns: runs.map((r) => ({
          id: r.id,
          name: r.name,
          state: r.state,
          result: r.result ?? null,
          reason: r.reason ?? null,
          counts: r.counts,
          verdicts: verdicts.get(r.id) ?? [],
        })),
      },
      null,
      2,
    )}\n`;
  } else {
    const paint = painter(process.stdout.isTTY === true && !values.output);
    const lines: string[] = [];
    for (const d of details.values()) {
      const bad = d.tests.filter((t) => t.status === 'failed' || t.status === 'error');
      lines.push(
        `${paint('bold', d.name)} [${d.id}] ${d.result ? describeResult(d.result) : d.state}${d.hostId ? ` on ${d.hostId}` : ''}`,
      );
      lines.push(
        `  tests: ${d.tests.length} (${d.tests.length - bad.length - d.tests.filter((t) => t.status === 'skipped').length} passed, ${bad.length} failed, ${d.tests.filter((t) => t.status === 'skipped').length} skipped)`,
      );
      for (const t of bad)
        lines.push(
          `  ${paint('red', t.status.toUpperCase())} ${t.classname ? `${t.classname}.` : ''}${t.name}${t.message ? `: ${t.message.split('\n')[0]}` : ''}`,
        );
    }
    for (const r of runs) {
      const v = verdicts.get(r.id) ?? [];
      lines.push(`${paint('bold', `batch run ${r.name}`)} [${r.id}] ${r.result ?? r.state}: ${batchRunLine(r)}`);
      if (r.reason) lines.push(`  ${r.reason}`);
      for (const [verdict, word, colour] of [
        ['failed', 'FAILED', 'red'],
        ['lost', 'LOST', 'magenta'],
        ['flaky', 'FLAKY', 'yellow'],
      ] as const) {
        const these = v.filter((x) => x.verdict === verdict);
        for (const x of these.slice(0, LISTED))
          lines.push(
            `  ${paint(colour, word)} ${x.test}${x.reason ? `: ${x.reason.split('\n')[0]}` : ''} (${x.attempts} attempt${x.attempts === 1 ? '' : 's'})`,
          );
        if (these.length > LISTED)
          lines.push(`  … ${these.length - LISTED} more ${verdict} (--json or --junit lists them all)`);
      }
    }
    text = `${lines.join('\n')}\n`;
  }
  if (values.output) await fs.writeFile(values.output, text);
  else process.stdout.write(text);
  return 0;
};

export const job: Command = async (args) => {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const id = positionals[0];
  if (!id || parseJobId(id).kind === 'submission')
    throw new UsageError('usage: testbay job JOB_ID|BATCH_RUN_ID [--json]');
  const d = await client().jobOrBatchRun(id);
  if (values.json) {
    json(d);
    return 0;
  }
  if (d.kind === 'batch-run') {
    const lines = [
      `batch run ${d.name} [${d.id}] of submission ${d.submissionId}`,
      `  state      ${d.result ?? d.state}${d.reason ? ` — ${d.reason}` : ''}`,
      `  tests      ${batchRunLine(d)}`,
      `  batches    ${d.batches} on ${d.hosts.length} hosts${d.lostBatches ? `, ${d.lostBatches} lost` : ''}`,
    ];
    for (const b of d.running)
      lines.push(`  on ${b.hostId.padEnd(10)} ${b.batchId} (${b.tests} tests)${b.current ? ` now ${b.current}` : ''}`);
    for (const t of d.isolated.slice(0, 10)) lines.push(`  isolated   ${t.test}: ${t.reason}`);
    lines.push(`  temporal   ${d.temporalWebUrl}`, `  verdicts   testbay results ${d.id}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  }
  const lines = [
    `job ${d.name} [${d.id}] of submission ${d.submissionId}`,
    `  state      ${d.state}${d.result ? ` — ${describeResult(d.result)}` : ''}`,
    `  host       ${d.hostId ?? '-'}   attempt ${d.attempt}   worker class ${d.workerClass}   recipe set ${d.setNumber}`,
  ];
  const why = describeJob(d);
  if (!d.result && why)
    lines.push(`  ${d.waitingReason && why === d.waitingReason ? 'waiting   ' : 'progress  '} ${why}`);
  if (d.clonedFrom) lines.push(`  re-runs    ${d.clonedFrom}`);
  if (d.retriedAs) lines.push(`  re-run as  ${d.retriedAs}`);
  if (d.startedAt) lines.push(`  started    ${d.startedAt}${d.endedAt ? `   ended ${d.endedAt}` : ''}`);
  if (d.deadline)
    lines.push(
      `  deadline   ${d.deadline.slice(0, 19).replace('T', ' ')} UTC (timeoutMs ${formatDuration(d.timeoutMs ?? 0)}${d.extendedMs ? `, extended by ${formatDuration(d.extendedMs)}` : ''}): testbay extend ${d.id} --by 30m for more`,
    );
  if (d.extensions?.length)
    lines.push(`  extended   by ${formatDuration(d.extendedMs ?? 0)}: ${describeExtensions(d.extensions)}`);
  lines.push(
    `  tests      ${d.tests.length} (${d.tests.filter((t) => t.status === 'failed' || t.status === 'error').length} failed)   artifacts ${d.artifacts.length}${d.savedBytes ? ` (PNG optimisation saved ${d.savedBytes} bytes)` : ''}   log ${d.logBytes} bytes`,
  );
  if (d.reservation) {
    lines.push(
      `  reserved   ${reservationLine(d.reservation)}`,
      ...connectLines(d.reservation).map((l) => `             ${l}`),
    );
    lines.push(`             testbay extend ${d.id} --by 1h   ·   testbay release ${d.id}`);
  }
  lines.push(`  temporal   ${d.temporalWebUrl}`);
  if (d.submissionWebUrl && d.submissionWebUrl !== d.temporalWebUrl)
    lines.push(`             ${d.submissionWebUrl} (the submission)`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
};

export const artifacts: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, output: { type: 'string', short: 'o' } },
  });
  const [id, name] = positionals;
  if (!id || parseJobId(id).kind === 'submission' || positionals.length > 2)
    throw new UsageError('usage: testbay artifacts JOB_ID [NAME] [-o FILE] [--json]');
  const api = client();
  if (name === undefined) {
    const { artifacts: list } = await api.artifacts(id);
    if (values.json) json(list);
    else
      process.stdout.write(
        list.length
          ? `${table([['NAME', 'BYTES'], ...list.map((a) => [a.name, String(a.sizeBytes)])]).join('\n')}\n`
          : 'no artifacts\n',
      );
    return 0;
  }
  const body = await api.artifact(id, name);
  if (values.output) await fs.writeFile(values.output, body);
  else process.stdout.write(body);
  return 0;
};

export const markBroken: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { reason: { type: 'string' }, json: { type: 'boolean' } },
  });
  const hostId = positionals[0];
  if (!hostId) throw new UsageError('usage: testbay mark-broken HOST [--reason TEXT]');
  const host = await client().markBroken(hostId, values.reason);
  if (values.json) json(host);
  else
    process.stdout.write(
      `${hostId}: ${host?.state ?? 'unknown'}${host?.broken ? ` (broken: ${host.broken.reason})` : ''}\n`,
    );
  return 0;
};

export const removeHost: Command = async (args) => {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const hostId = positionals[0];
  if (!hostId) throw new UsageError('usage: testbay remove-host HOST');
  await client().removeHost(hostId);
  if (values.json) json({ id: hostId, removed: true });
  else process.stdout.write(`${hostId}: removed\n`);
  return 0;
};
