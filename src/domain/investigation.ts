/**
 * @module What changed since the last good run (openQA's Investigation tab): a failed job
 * compared with the last passed run of its scenario — settings, runner argv, test code,
 * assets, the host and its capabilities, and the per-test results. Pure: the API reads
 * both runs from the result store (so it works long after Temporal forgot them) and the
 * git log between the two commits from what the host recorded at provisioning.
 */

export interface RunFacts {
  jobId: string;
  submissionId: string;
  result: string;
  endedAt?: string;
  settings: Record<string, string>;
  argv: string[];
  tests?: { git: string; ref: string; commit?: string };
  assets: { name: string; sha256: string }[];
  hostId?: string;
  capabilities?: Record<string, string>;
  /** per-test statuses: passed, failed, error, skipped */
  testResults: Record<string, string>;
}

export interface Change<T> {
  before: T;
  after: T;
}

export interface Investigation {
  jobId: string;
  /** the last passed run of the scenario, or why there is none */
  lastGood: { jobId: string; submissionId: string; endedAt?: string } | { none: string };
  settings?: {
    added: Record<string, string>;
    removed: Record<string, string>;
    changed: Record<string, Change<string>>;
  };
  argv?: Change<string[]>;
  testCode?: { repository?: Change<string>; ref?: Change<string>; commit?: Change<string | undefined>; log?: string[] };
  assets?: {
    added: { name: string; sha256: string }[];
    removed: { name: string; sha256: string }[];
    changed: { name: string; sha256: Change<string> }[];
  };
  host?: {
    id?: Change<string | undefined>;
    capabilities?: {
      added: Record<string, string>;
      removed: Record<string, string>;
      changed: Record<string, Change<string>>;
    };
  };
  tests?: { newlyFailing: string[]; newlyPassing: string[]; appeared: string[]; disappeared: string[] };
}

const bad = (status: string | undefined) => status === 'failed' || status === 'error';

function diffRecords(before: Record<string, string>, after: Record<string, string>) {
  const added: Record<string, string> = {};
  const removed: Record<string, string> = {};
  const changed: Record<string, Change<string>> = {};
  for (const [k, v] of Object.entries(after)) {
    if (!(k in before)) added[k] = v;
    else if (before[k] !== v) changed[k] = { before: before[k]!, after: v };
  }
  for (const [k, v] of Object.entries(before)) if (!(k in after)) removed[k] = v;
  const empty = Object.keys(added).length + Object.keys(removed).length + Object.keys(changed).length === 0;
  return empty ? undefined : { added, removed, changed };
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Compares `job` with `lastGood` (the last passed run of its scenario, if any). `gitLog`
 * is the `git log --oneline` between the two commits, when the host's mirror had it.
 * Only what differs is in the answer.
 */
export function investigate(job: RunFacts, lastGood: RunFacts | undefined, gitLog?: string[]): Investigation {
  if (!lastGood) return { jobId: job.jobId, lastGood: { none: 'no passed run of this scenario is on record' } };
  const out: Investigation = {
    jobId: job.jobId,
    lastGood: {
      jobId: lastGood.jobId,
      submissionId: lastGood.submissionId,
      ...(lastGood.endedAt ? { endedAt: lastGood.endedAt } : {}),
    },
  };
  const settings = diffRecords(lastGood.settings, job.settings);
  if (settings) out.settings = settings;
  if (!sameList(lastGood.argv, job.argv)) out.argv = { before: lastGood.argv, after: job.argv };
  const [a, b] = [lastGood.tests, job.tests];
  if (a || b) {
    const code: NonNullable<Investigation['testCode']> = {};
    if (a?.git !== b?.git) code.repository = { before: a?.git ?? '', after: b?.git ?? '' };
    if (a?.ref !== b?.ref) code.ref = { before: a?.ref ?? '', after: b?.ref ?? '' };
    if (a?.commit !== b?.commit) code.commit = { before: a?.commit, after: b?.commit };
    if (gitLog && gitLog.length > 0) code.log = gitLog;
    if (Object.keys(code).length > 0) out.testCode = code;
  }
  const assetsBefore = new Map(lastGood.assets.map((x) => [x.name, x.sha256]));
  const assetsAfter = new Map(job.assets.map((x) => [x.name, x.sha256]));
  const assets = {
    added: job.assets.filter((x) => !assetsBefore.has(x.name)),
    removed: lastGood.assets.filter((x) => !assetsAfter.has(x.name)),
    changed: job.assets
      .filter((x) => assetsBefore.has(x.name) && assetsBefore.get(x.name) !== x.sha256)
      .map((x) => ({ name: x.name, sha256: { before: assetsBefore.get(x.name)!, after: x.sha256 } })),
  };
  if (assets.added.length + assets.removed.length + assets.changed.length > 0) out.assets = assets;
  const host: NonNullable<Investigation['host']> = {};
  if (lastGood.hostId !== job.hostId) host.id = { before: lastGood.hostId, after: job.hostId };
  const caps = diffRecords(lastGood.capabilities ?? {}, job.capabilities ?? {});
  if (caps) host.capabilities = caps;
  if (Object.keys(host).length > 0) out.host = host;
  const names = new Set([...Object.keys(lastGood.testResults), ...Object.keys(job.testResults)]);
  const tests = {
    newlyFailing: [] as string[],
    newlyPassing: [] as string[],
    appeared: [] as string[],
    disappeared: [] as string[],
  };
  for (const n of [...names].sort()) {
    const [was, is] = [lastGood.testResults[n], job.testResults[n]];
    if (was === undefined) tests.appeared.push(n);
    else if (is === undefined) tests.disappeared.push(n);
    else if (bad(is) && !bad(was)) tests.newlyFailing.push(n);
    else if (!bad(is) && bad(was)) tests.newlyPassing.push(n);
  }
  if (Object.values(tests).some((l) => l.length > 0)) out.tests = tests;
  return out;
}
