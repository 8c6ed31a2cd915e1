/**
 * @module The CLI's review commands: a scenario's history (`history`), what changed
 * since its last good run (`investigate`), comments (`comment`), labels (`label`) and the
 * jobs that need review (`review`). The words are the API's and the dashboard's.
 */
import { parseArgs } from 'node:util';
import type { CommentView } from '../api/client.js';
import type { InvestigationView, ScenarioHistory } from '../api/routes/scenarios.js';
import type { ScenarioRun } from '../api/store/review-store.js';
import { loadConfig } from '../config.js';
import { JOB_ID_PATTERN } from '../domain/ids.js';
import { clientFor, UsageError } from './lab-target.js';
import { painter } from './render.js';

type Command = (args: string[]) => Promise<number>;

const json = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
const out = (lines: string[]) => process.stdout.write(`${lines.join('\n')}\n`);
const colours: Record<string, Parameters<ReturnType<typeof painter>>[0]> = {
  passed: 'green',
  failed: 'red',
  aborted: 'magenta',
  cancelled: 'gray',
  skipped: 'gray',
};

function limitOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 500)
    throw new UsageError(`--limit: ${text} is not a whole number from 1 to 500`);
  return n;
}

const when = (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

function runLine(r: ScenarioRun, paint: ReturnType<typeof painter>): string[] {
  const kind = r.result?.kind ?? r.state;
  return [
    paint(colours[kind] ?? 'cyan', kind),
    r.jobId,
    r.hostId ?? '-',
    when(r.endedAt ?? r.startedAt ?? r.openedAt),
    r.testsCommit?.slice(0, 12) ?? '-',
    r.submissionId,
  ];
}

function table(rows: string[][]): string[] {
  // eslint-disable-next-line no-control-regex -- the colour codes painter adds do not take room
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((row) => visible(row[c] ?? ''))));
  return rows.map((row) =>
    row.map((cell, c) => (c === row.length - 1 ? cell : cell + ' '.repeat(w[c]! - visible(cell)))).join('  '),
  );
}

/** The lines `testbay history` prints. */
export function historyLines(h: ScenarioHistory, colour: boolean): string[] {
  const paint = painter(colour);
  const lines = [`scenario ${h.scenario.description}`, `key ${h.scenario.key}`, ''];
  lines.push(
    ...table([['RESULT', 'JOB', 'HOST', 'WHEN', 'COMMIT', 'SUBMISSION'], ...h.runs.map((r) => runLine(r, paint))]),
  );
  lines.push('');
  lines.push(h.lastGood ? `last good: ${h.lastGood.jobId} (${when(h.lastGood.endedAt)})` : 'last good: none on record');
  if (h.firstBadSince) lines.push(`first bad since: ${h.firstBadSince.jobId} (${when(h.firstBadSince.endedAt)})`);
  return lines;
}

const history: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { limit: { type: 'string' }, json: { type: 'boolean' } },
  });
  const target = positionals[0];
  if (!target || positionals.length > 1)
    throw new UsageError('usage: testbay history JOB_ID|SCENARIO [--limit N] [--json]');
  const limit = limitOf(values.limit, 20);
  const client = clientFor(loadConfig());
  let key = target;
  if (JOB_ID_PATTERN.test(target)) {
    const job = await client.job(target);
    if (!job.scenario) throw new UsageError(`job ${target} has no scenario on record`);
    key = job.scenario;
  }
  const h = await client.scenarioHistory(key, limit);
  if (values.json) json(h);
  else out(historyLines(h, process.stdout.isTTY === true));
  return 0;
};

const pairs = (r: Record<string, string>) =>
  Object.entries(r)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

/** The lines `testbay investigate` prints: only what differs, section by section. */
export function investigationLines(v: InvestigationView): string[] {
  const lines = [
    `job ${v.jobId}${v.result ? ` ${v.result.kind}` : ''}${v.scenario ? ` (scenario ${v.scenario})` : ''}`,
  ];
  if ('none' in v.lastGood) {
    lines.push(`no good run to compare with: ${v.lastGood.none}`);
    return lines;
  }
  lines.push(
    `compared with the last good run ${v.lastGood.jobId} (submission ${v.lastGood.submissionId}, ${when(v.lastGood.endedAt)})`,
  );
  let changed = false;
  const section = (title: string, body: string[]) => {
    if (body.length === 0) return;
    changed = true;
    lines.push('', title, ...body.map((b) => `  ${b}`));
  };
  const s = v.settings;
  if (s)
    section('settings', [
      ...Object.entries(s.added).map(([k, x]) => `+ ${k}=${x}`),
      ...Object.entries(s.removed).map(([k, x]) => `- ${k}=${x}`),
      ...Object.entries(s.changed).map(([k, c]) => `~ ${k}: ${c.before} -> ${c.after}`),
    ]);
  if (v.argv)
    section('runner argv', [`before: ${JSON.stringify(v.argv.before)}`, `now:    ${JSON.stringify(v.argv.after)}`]);
  const t = v.testCode;
  if (t) {
    section('test code', [
      ...(t.repository ? [`repository: ${t.repository.before} -> ${t.repository.after}`] : []),
      ...(t.ref ? [`ref: ${t.ref.before} -> ${t.ref.after}`] : []),
      ...(t.commit ? [`commit: ${t.commit.before ?? '?'} -> ${t.commit.after ?? '?'}`] : []),
      ...(t.log ? [`${t.log.length} commit(s) between them:`, ...t.log.map((l) => `  ${l}`)] : []),
      ...(t.logNote ? [`(${t.logNote})`] : []),
    ]);
  }
  const a = v.assets;
  if (a)
    section('assets', [
      ...a.added.map((x) => `+ ${x.name} ${x.sha256}`),
      ...a.removed.map((x) => `- ${x.name} ${x.sha256}`),
      ...a.changed.map((x) => `~ ${x.name}: ${x.sha256.before} -> ${x.sha256.after}`),
    ]);
  const h = v.host;
  if (h) {
    const caps = h.capabilities;
    section('host', [
      ...(h.id ? [`host: ${h.id.before ?? '?'} -> ${h.id.after ?? '?'}`] : []),
      ...(caps && Object.keys(caps.added).length ? [`capabilities added: ${pairs(caps.added)}`] : []),
      ...(caps && Object.keys(caps.removed).length ? [`capabilities removed: ${pairs(caps.removed)}`] : []),
      ...(caps ? Object.entries(caps.changed).map(([k, c]) => `capability ${k}: ${c.before} -> ${c.after}`) : []),
    ]);
  }
  const tests = v.tests;
  if (tests) {
    section('tests', [
      ...(tests.newlyFailing.length ? [`newly failing: ${tests.newlyFailing.join(', ')}`] : []),
      ...(tests.newlyPassing.length ? [`newly passing: ${tests.newlyPassing.join(', ')}`] : []),
      ...(tests.appeared.length ? [`appeared: ${tests.appeared.join(', ')}`] : []),
      ...(tests.disappeared.length ? [`disappeared: ${tests.disappeared.join(', ')}`] : []),
    ]);
  }
  if (!changed) lines.push('', 'nothing differs that Testbay records');
  return lines;
}

const investigate: Command = async (args) => {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const id = positionals[0];
  if (!id || positionals.length > 1 || !JOB_ID_PATTERN.test(id))
    throw new UsageError('usage: testbay investigate JOB_ID [--json]');
  const v = await clientFor(loadConfig()).investigation(id);
  if (values.json) json(v);
  else out(investigationLines(v));
  return 0;
};

/** A comment for a terminal: bug references with their URL after them. */
export function commentLine(c: CommentView): string {
  const text = c.parts.map((p) => ('ref' in p ? `${p.ref} <${p.url}>` : p.text)).join('');
  return `${when(c.createdAt)} ${c.author}: ${text}`;
}

const comment: Command = async (args) => {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const [id, ...words] = positionals;
  if (!id)
    throw new UsageError(
      'usage: testbay comment ID [TEXT] [--json]   (ID: a job <submission>.<n> or a submission; without TEXT: the comments)',
    );
  const client = clientFor(loadConfig());
  if (words.length === 0) {
    const { comments } = await client.comments(id);
    if (values.json) json(comments);
    else out(comments.length ? comments.map(commentLine) : [`no comments on ${id}`]);
    return 0;
  }
  const added = await client.comment(id, words.join(' '));
  if (values.json) json(added);
  else out([commentLine(added)]);
  return 0;
};

const label: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { off: { type: 'boolean' }, json: { type: 'boolean' } },
  });
  const [id, name] = positionals;
  if (!id || positionals.length > 2 || !JOB_ID_PATTERN.test(id))
    throw new UsageError('usage: testbay label JOB_ID [LABEL] [--off] [--json]');
  const client = clientFor(loadConfig());
  const { labels } = name === undefined ? await client.labels(id) : await client.label(id, name, values.off !== true);
  if (values.json) json(labels);
  else out([labels.length ? `${id}: ${labels.map((l) => l.label).join(', ')}` : `${id}: no labels`]);
  return 0;
};

const review: Command = async (args) => {
  const { values } = parseArgs({ args, options: { limit: { type: 'string' }, json: { type: 'boolean' } } });
  const { jobs } = await clientFor(loadConfig()).needsReview(limitOf(values.limit, 50));
  if (values.json) {
    json(jobs);
    return 0;
  }
  if (jobs.length === 0) {
    out(['nothing needs review: every failed job has a comment']);
    return 0;
  }
  const paint = painter(process.stdout.isTTY === true);
  out(
    table([
      ['JOB', 'NAME', 'HOST', 'ENDED', 'LABELS', 'REASON'],
      ...jobs.map((j) => [
        j.jobId,
        j.name,
        j.hostId,
        when(j.endedAt),
        j.labels.join(',') || '-',
        paint(colours[j.result.kind] ?? 'red', 'reason' in j.result ? (j.result.reason ?? '') : ''),
      ]),
    ]),
  );
  return 0;
};

export const reviewCommands: Record<string, Command> = { history, investigate, comment, label, review };

export const REVIEW_USAGE = `
Review
  history JOB_ID|SCENARIO [--limit N] [--json]
                                   a scenario's last runs (result, host, when, test code commit,
                                   submission), its last good run and the first bad one since
  investigate JOB_ID [--json]      what changed since the last good run of the job's scenario
  comment ID [TEXT] [--json]       comment on a job or submission (without TEXT: its comments)
  label JOB_ID [LABEL] [--off] [--json]
                                   label a job (flaky, infra, needs-bug, …), or take one off
  review [--limit N] [--json]      needs review: failed jobs without a comment, newest first
  restart SUBMISSION_ID --failed [--watch] [--json]
                                   rerun the failed, aborted and skipped jobs of a submission
`;
