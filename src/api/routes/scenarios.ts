/**
 * @module Scenarios: a scenario's history (its last runs, its last good run and the first
 * bad one since), its status badge (SVG; without a token when TESTBAY_PUBLIC_BADGES=1),
 * and a job's investigation — what changed since the last passed run of its scenario.
 * All of it is read from the result store, so it outlives Temporal's retention.
 */
import { Router, type RequestHandler } from 'express';
import { investigate, type Investigation, type RunFacts } from '../../domain/investigation.js';
import { describeScenario, parseScenarioKey } from '../../domain/scenario.js';
import { HttpError, parseOr400 } from '../http-errors.js';
import { authorize } from '../middleware.js';
import type { JobRecord, ResultStore, SubmissionRecord } from '../store/result-store.js';
import type { ScenarioRun } from '../store/review-store.js';
import { jobIdParam } from './api-schemas.js';
import type { RouteDeps } from './deps.js';
import { historyQuery, scenarioKeyParam } from './review-schemas.js';

export interface ScenarioHistory {
  scenario: {
    key: string;
    name: string;
    workerClass: string;
    settings: Record<string, string>;
    testId?: string;
    description: string;
  };
  runs: ScenarioRun[];
  lastGood?: ScenarioRun;
  firstBadSince?: ScenarioRun;
}

/** A scenario's last runs, its last good run and the first failed run since; undefined when it never ran. */
export async function scenarioHistory(
  store: ResultStore,
  key: string,
  limit: number,
): Promise<ScenarioHistory | undefined> {
  const parts = parseScenarioKey(key);
  if (!parts) return undefined;
  const runs = await store.review.scenarioRuns(key, { limit });
  if (runs.length === 0) return undefined;
  const [lastGood] = await store.review.scenarioRuns(key, { limit: 1, result: 'passed' });
  const [firstBadSince] = await store.review.scenarioRuns(key, {
    limit: 1,
    result: 'failed',
    oldestFirst: true,
    ...(lastGood ? { after: lastGood.jobId } : {}),
  });
  const name = parts.testId !== undefined ? `${parts.name}/${parts.testId}` : parts.name;
  return {
    scenario: {
      key,
      name: parts.name,
      workerClass: parts.workerClass,
      settings: parts.settings,
      ...(parts.testId !== undefined ? { testId: parts.testId } : {}),
      description: describeScenario({ key, name, workerClass: parts.workerClass, settings: parts.settings }),
    },
    runs,
    ...(lastGood ? { lastGood } : {}),
    ...(firstBadSince ? { firstBadSince } : {}),
  };
}

const BADGE_COLOURS: Record<string, string> = {
  passed: '#2e7d32',
  failed: '#c62828',
  aborted: '#ef6c00',
  cancelled: '#616161',
  skipped: '#757575',
  running: '#1565c0',
};
const xml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

/** A flat status badge in the style of shields.io: the scenario's name, then its latest result. */
export function badgeSvg(label: string, status: string): string {
  const w = (s: string) => Math.round(s.length * 6.6 + 12);
  const [lw, sw] = [w(label), w(status)];
  const colour = BADGE_COLOURS[status] ?? '#757575';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${lw + sw}" height="20" role="img" aria-label="${xml(label)}: ${xml(status)}"><title>${xml(label)}: ${xml(status)}</title><rect width="${lw}" height="20" fill="#555"/><rect x="${lw}" width="${sw}" height="20" fill="${colour}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle"><text x="${lw / 2}" y="14">${xml(label)}</text><text x="${lw + sw / 2}" y="14">${xml(status)}</text></g></svg>`;
}

/** What a job record and its submission's spec say about one run, for the investigation. */
export function runFacts(record: JobRecord, submission: SubmissionRecord | undefined): RunFacts {
  const spec =
    submission?.submission.jobs.find((j) => j.name === record.name) ??
    submission?.submission.batchRuns?.find((r) => r.name === record.name.split('#')[0]);
  const tests = spec && 'tests' in spec && spec.tests && !Array.isArray(spec.tests) ? spec.tests : undefined;
  return {
    jobId: record.id,
    submissionId: record.submissionId,
    result: record.result?.kind ?? record.state,
    ...(record.endedAt ? { endedAt: record.endedAt } : {}),
    settings: spec?.settings ?? {},
    argv: spec?.runner.command ?? [],
    ...(tests
      ? { tests: { git: tests.git, ref: tests.ref, ...(record.testCode ? { commit: record.testCode.commit } : {}) } }
      : {}),
    assets:
      spec && 'assets' in spec
        ? spec.assets.map((a) => ({ name: a.name ?? a.url.split('/').pop() ?? a.url, sha256: a.sha256 }))
        : [],
    hostId: record.hostId,
    ...(record.hostCapabilities ? { capabilities: record.hostCapabilities } : {}),
    testResults: Object.fromEntries(
      (record.tests ?? []).map((t) => [t.classname ? `${t.classname}.${t.name}` : t.name, t.status]),
    ),
  };
}

/**
 * The commits between the last good run's and this run's, from the log the host recorded
 * at provisioning (newest first, up to the commit it checked out); undefined when the
 * good commit is not in that log (the reason says why).
 */
export function logBetween(record: JobRecord, goodCommit: string | undefined): { log?: string[]; note?: string } {
  const commit = record.testCode?.commit;
  if (!commit || !goodCommit || commit === goodCommit) return {};
  const log = record.testCode?.log;
  if (!log) return { note: 'the host recorded no git log for this job' };
  const at = log.findIndex((line) => goodCommit.startsWith(line.split(' ')[0]!));
  if (at === -1)
    return {
      note: `the last good commit ${goodCommit.slice(0, 12)} is not among the ${log.length} commits the host recorded before ${commit.slice(0, 12)} (another branch, or further back)`,
    };
  return { log: log.slice(0, at) };
}

export interface InvestigationView extends Omit<Investigation, 'testCode'> {
  testCode?: NonNullable<Investigation['testCode']> & { logNote?: string };
  scenario?: string;
  result?: JobRecord['result'];
}

/** A job compared with the last passed run of its scenario before it. */
export async function investigation(store: ResultStore, id: string): Promise<InvestigationView | undefined> {
  const record = await store.getJob(id);
  if (!record) return undefined;
  const submission = await store.getSubmission(record.submissionId);
  const facts = runFacts(record, submission);
  const base = {
    ...(record.scenario ? { scenario: record.scenario } : {}),
    ...(record.result ? { result: record.result } : {}),
  };
  if (!record.scenario)
    return {
      ...base,
      jobId: id,
      lastGood: { none: 'this job has no scenario on record (it was recorded before scenarios were kept)' },
    };
  const [good] = await store.review.scenarioRuns(record.scenario, { limit: 1, result: 'passed', before: id });
  const goodRecord = good ? await store.getJob(good.jobId) : undefined;
  if (!goodRecord) return { ...base, ...investigate(facts, undefined) };
  const goodFacts = runFacts(
    goodRecord,
    good!.submissionId === record.submissionId ? submission : await store.getSubmission(good!.submissionId),
  );
  const between = logBetween(record, goodFacts.tests?.commit);
  const out: InvestigationView = { ...base, ...investigate(facts, goodFacts, between.log) };
  if (between.note && out.testCode) out.testCode = { ...out.testCode, logNote: between.note };
  return out;
}

export function scenarioRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { store, tokens } = deps;
  const read = authorize(tokens, 'read');
  const badgeAccess: RequestHandler = deps.review?.publicBadges ? (_req, _res, next) => next() : read;

  r.get('/scenarios/:key/history', read, async (req, res) => {
    const key = parseOr400(scenarioKeyParam, req.params.key, 'scenario key');
    const { limit } = parseOr400(historyQuery, req.query, 'query');
    const history = await scenarioHistory(store, key, limit);
    if (!history) throw new HttpError(404, `no scenario ${key}: no job of it is on record`);
    res.json(history);
  });

  r.get('/scenarios/:key/badge.svg', badgeAccess, async (req, res) => {
    const key = parseOr400(scenarioKeyParam, req.params.key, 'scenario key');
    const parts = parseScenarioKey(key);
    const runs = await store.review.scenarioRuns(key, { limit: 20 });
    if (!parts || runs.length === 0) throw new HttpError(404, `no scenario ${key}: no job of it is on record`);
    const latest = runs.find((run) => run.result) ?? runs[0]!;
    const status = latest.result?.kind ?? 'running';
    res.type('image/svg+xml').set({
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    });
    res.send(badgeSvg(parts.testId !== undefined ? `${parts.name}/${parts.testId}` : parts.name, status));
  });

  r.get('/jobs/:id/investigation', read, async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const found = await investigation(store, id);
    if (!found) throw new HttpError(404, `no job record ${id} (a job that never ran has nothing to compare)`);
    res.json(found);
  });

  return r;
}
