/**
 * @module A submission's results as JUnit XML for CI systems (as `bkr job-results
 * --format junit-xml` does): one <testsuite> per job (its latest attempt), one
 * <testcase> per test the runner reported. A job that did not pass and whose tests do
 * not say why gets a testcase of its own: an infrastructure abort is an <error> typed
 * `aborted:<cause>`, a test failure a <failure>, skipped and cancelled jobs <skipped>.
 * A batch run is one <testsuite> too, from its verdicts (one per test, exactly once): a
 * failed test a <failure>, a lost one an <error type="lost"> (no result after every
 * attempt: not the test's verdict), skipped and cancelled <skipped>, and a flaky test
 * passes with a note in its <system-out> and the suite's properties.
 */
import type { JobDetails } from '../api/client.js';
import type { StoredVerdict } from '../domain/wire/batch-runs.js';
import { latestAttempts, type BatchRunView, type SubmissionView } from '../domain/views.js';

const xml = (s: string) =>
  s
    // XML 1.0 allows neither most control characters nor lone surrogates.
    // eslint-disable-next-line no-control-regex -- stripping them is the point
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

const seconds = (ms: number | undefined) => ((ms ?? 0) / 1000).toFixed(3);
const attr = (attrs: Record<string, string | number | undefined>) =>
  Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xml(String(v))}"`)
    .join('');

export interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  timeMs: number;
}

function suite(job: JobDetails, prior: string[]): { text: string; counts: Counts } {
  const cases: string[] = [];
  const c: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0, timeMs: 0 };
  const classname = job.name;
  for (const t of job.tests) {
    c.tests += 1;
    c.timeMs += t.durationMs ?? 0;
    let inner = '';
    if (t.status === 'failed') {
      c.failures += 1;
      inner = `<failure${attr({ message: t.message ?? 'failed', type: 'failed' })}>${xml(t.message ?? '')}</failure>`;
    } else if (t.status === 'error') {
      c.errors += 1;
      inner = `<error${attr({ message: t.message ?? 'error', type: 'error' })}>${xml(t.message ?? '')}</error>`;
    } else if (t.status === 'skipped') {
      c.skipped += 1;
      inner = `<skipped${attr({ message: t.message })}/>`;
    }
    cases.push(
      `    <testcase${attr({ name: t.name, classname: t.classname ? `${classname}.${t.classname}` : classname, time: seconds(t.durationMs) })}${inner ? `>${inner}</testcase>` : '/>'}`,
    );
  }
  const r = job.result;
  const explained = job.tests.some((t) => t.status === 'failed' || t.status === 'error');
  let jobCase: string | undefined;
  if (!r) {
    if (job.tests.length === 0) {
      c.skipped += 1;
      jobCase = `<skipped${attr({ message: `not finished: ${job.state}` })}/>`;
    }
  } else if (r.kind === 'passed') {
    if (job.tests.length === 0) jobCase = '';
  } else if (r.kind === 'aborted') {
    c.errors += 1;
    jobCase = `<error${attr({ type: `aborted:${r.cause}`, message: r.reason })}>${xml(`infrastructure abort [${r.cause}] on ${job.hostId ?? 'no host'}: ${r.reason}`)}</error>`;
  } else if (r.kind === 'failed') {
    if (!explained) {
      c.failures += 1;
      jobCase = `<failure${attr({ type: 'failed', message: r.reason })}>${xml(r.reason)}</failure>`;
    }
  } else {
    c.skipped += 1;
    jobCase = `<skipped${attr({ message: `${r.kind}: ${r.reason}` })}/>`;
  }
  if (jobCase !== undefined) {
    c.tests += 1;
    cases.push(
      `    <testcase${attr({ name: '(job)', classname, time: '0.000' })}${jobCase ? `>${jobCase}</testcase>` : '/>'}`,
    );
  }
  const durationMs = job.startedAt && job.endedAt ? Date.parse(job.endedAt) - Date.parse(job.startedAt) : c.timeMs;
  const props = [
    ['testbay.job', job.id],
    ['testbay.attempt', String(job.attempt)],
    ['testbay.result', r?.kind ?? job.state],
    ...(r?.kind === 'aborted' ? [['testbay.cause', r.cause]] : []),
    ...(r && 'reason' in r && r.reason ? [['testbay.reason', r.reason]] : []),
    ...(job.hostId ? [['testbay.host', job.hostId]] : []),
    ...prior.map((p) => ['testbay.earlier-attempt', p]),
    ['testbay.temporal', job.temporalWebUrl],
    ...(job.submissionWebUrl && job.submissionWebUrl !== job.temporalWebUrl
      ? [['testbay.temporal.submission', job.submissionWebUrl]]
      : []),
  ];
  const text = suiteXml(
    {
      name: job.name,
      id: job.id,
      hostname: job.hostId,
      tests: c.tests,
      failures: c.failures,
      errors: c.errors,
      skipped: c.skipped,
      time: seconds(durationMs),
      timestamp: job.startedAt,
    },
    props,
    cases,
  );
  return { text, counts: { ...c, timeMs: durationMs } };
}

/** One `<testsuite>` with its properties and test cases. */
function suiteXml(
  attributes: Parameters<typeof attr>[0],
  props: readonly (readonly string[])[],
  cases: readonly string[],
): string {
  return [
    `  <testsuite${attr(attributes)}>`,
    '    <properties>',
    ...props.map(([name, value]) => `      <property${attr({ name, value })}/>`),
    '    </properties>',
    ...cases,
    '  </testsuite>',
  ].join('\n');
}

/** A batch run as one suite: a testcase per verdict. */
export function batchRunSuite(run: BatchRunView, verdicts: readonly StoredVerdict[]): { text: string; counts: Counts } {
  const c: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0, timeMs: 0 };
  const cases: string[] = [];
  for (const v of [...verdicts].sort((a, b) => (a.test < b.test ? -1 : a.test > b.test ? 1 : 0))) {
    c.tests += 1;
    const why = v.reason ?? v.verdict;
    const tries = `${v.attempts} attempt${v.attempts === 1 ? '' : 's'}${v.late ? `, ${v.late} late result${v.late === 1 ? '' : 's'} ignored` : ''}`;
    let inner = '';
    if (v.verdict === 'failed') {
      c.failures += 1;
      inner = `<failure${attr({ type: 'failed', message: why })}>${xml(`${why} (${tries})`)}</failure>`;
    } else if (v.verdict === 'lost') {
      c.errors += 1;
      inner = `<error${attr({ type: 'lost', message: why })}>${xml(`lost: no result after every attempt, not a test failure (${tries}): ${why}`)}</error>`;
    } else if (v.verdict === 'skipped' || v.verdict === 'cancelled') {
      c.skipped += 1;
      inner = `<skipped${attr({ message: v.verdict === 'cancelled' ? `cancelled: ${why}` : v.reason })}/>`;
    } else if (v.verdict === 'flaky') {
      inner = `<system-out>${xml(`flaky: ${v.reason ?? 'passed after a failed run'} (${tries})`)}</system-out>`;
    }
    cases.push(
      `    <testcase${attr({ name: v.test, classname: run.name, time: '0.000' })}${inner ? `>${inner}</testcase>` : '/>'}`,
    );
  }
  const k = run.counts;
  const props = [
    ['testbay.batch-run', run.id],
    ['testbay.result', run.result ?? run.state],
    ...(run.reason ? [['testbay.reason', run.reason]] : []),
    [
      'testbay.counts',
      `passed ${k.passed}, failed ${k.failed}, flaky ${k.flaky}, lost ${k.lost}, skipped ${k.skipped}, cancelled ${k.cancelled}`,
    ],
    ...(run.flaky.length > 0 ? [['testbay.flaky', run.flaky.join(', ')]] : []),
    ...(run.isolated.length > 0 ? [['testbay.isolated', run.isolated.map((t) => t.test).join(', ')]] : []),
    [
      'testbay.batches',
      `${run.batches} on ${run.hosts.join(', ') || 'no host'}${run.lostBatches ? ` (${run.lostBatches} lost)` : ''}`,
    ],
    ['testbay.workflow', run.workflowId],
  ];
  const text = suiteXml(
    {
      name: run.name,
      id: run.id,
      tests: c.tests,
      failures: c.failures,
      errors: c.errors,
      skipped: c.skipped,
      time: '0.000',
    },
    props,
    cases,
  );
  return { text, counts: c };
}

/**
 * The whole submission; `details` holds GET /jobs/:id of every latest attempt, `verdicts`
 * GET /jobs/:id/verdicts of every batch run to include.
 */
export function junitXml(
  view: SubmissionView,
  details: ReadonlyMap<string, JobDetails>,
  verdicts: ReadonlyMap<string, readonly StoredVerdict[]> = new Map(),
): string {
  const suites: string[] = [];
  const total: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0, timeMs: 0 };
  const add = (s: { text: string; counts: Counts }) => {
    suites.push(s.text);
    for (const k of ['tests', 'failures', 'errors', 'skipped', 'timeMs'] as const) total[k] += s.counts[k];
  };
  for (const j of latestAttempts(view.jobs)) {
    const d = details.get(j.id);
    if (!d) continue;
    const prior = view.jobs
      .filter((o) => o.name === j.name && o.id !== j.id)
      .map(
        (o) =>
          `${o.id} ${o.result ? (o.result.kind === 'aborted' ? `aborted [${o.result.cause}] ${o.result.reason}` : o.result.kind) : o.state}${o.hostId ? ` on ${o.hostId}` : ''}`,
      );
    add(suite(d, prior));
  }
  for (const run of view.batchRuns ?? []) {
    const v = verdicts.get(run.id);
    if (v) add(batchRunSuite(run, v));
  }
  const elapsed = view.endedAt ? Date.parse(view.endedAt) - Date.parse(view.createdAt) : total.timeMs;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attr({ name: `testbay submission ${view.id}${view.name ? ` (${view.name})` : ''}`, tests: total.tests, failures: total.failures, errors: total.errors, skipped: total.skipped, time: seconds(elapsed) })}>`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
