#!/usr/bin/env node
/**
 * Adds to test/replay/histories: runs integration tests with TESTBAY_RECORD_HISTORIES
 * (test/helpers/lab.ts writes every workflow run of each lab as it stops), then adds a few
 * histories per workflow type: greedily, those that show what the histories already there
 * do not (event types, signals, activities, child workflows, continue-as-new,
 * cancellation), smaller ones first, at most MAX_PER_TYPE new ones of at most MAX_BYTES
 * each. The histories already there stay: they were recorded by older workflow code, and
 * that is what replay must keep accepting. `--replace` starts from none.
 *
 *   node scripts/record-histories.mjs [--replace] [test files...]
 *   node scripts/record-histories.mjs [--replace] --from DIR   (pick from an earlier recording, run nothing)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const OUT = path.join(ROOT, 'test', 'replay', 'histories');
const MAX_PER_TYPE = 6;
const MAX_BYTES = 400 * 1024;
const DEFAULT_TESTS = [
  'test/integration/job-lifecycle.test.ts',
  'test/integration/scheduling.test.ts',
  'test/integration/batch-run.test.ts',
  'test/integration/never-stuck.test.ts',
  'test/integration/failover.test.ts',
  'test/integration/host-health.test.ts',
  // runs the daily retention schedule's workflow once
  'test/integration/lab-on-postgres.test.ts',
  // webhook and commit-status deliveries, with a refused first attempt and a cut-off receiver
  'test/integration/webhooks.test.ts',
  // a recipe set and a batch run submitted before the scheduler runs (the lease client's back-off)
  'test/integration/lease-client.test.ts',
  // a recipe set's partners: barriers, messages (updates), stopPartnersOnFailure
  'test/integration/partners.test.ts',
  // schedulers of pools other than the default, and the runs they lease for
  'test/integration/pools.test.ts',
  // reservations after a job (extended, released, ended by time), a loan, a priority change
  'test/integration/reservations.test.ts',
  // provision, recover (after a chain's and a batch run's abort) and power hooks
  'test/integration/host-hooks.test.ts',
  // a running job's deadline extended by its submitter and by its runner
  'test/integration/job-extend.test.ts',
  // health checks due by time and by job count, before the host's next job
  'test/integration/periodic-checks.test.ts',
  // outputTimeoutMs and the host watchdogs
  'test/integration/host-watchdogs.test.ts',
];

const args = process.argv.slice(2);
const replace = args[0] === '--replace';
if (replace) args.shift();
let from;
if (args[0] === '--from') {
  from = path.resolve(args[1]);
} else {
  from = fs.mkdtempSync(path.join(os.tmpdir(), 'testbay-histories-'));
  const tests = args.length > 0 ? args : DEFAULT_TESTS;
  console.log(`recording into ${from}: ${tests.join(' ')}`);
  // Test failures do not stop the recording: what ran is recorded all the same.
  spawnSync('npx', ['vitest', 'run', ...tests], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, TESTBAY_RECORD_HISTORIES: from },
  });
}

/** What a history shows: the features the kept set should cover. */
function features(history) {
  const f = new Set();
  for (const e of history.events ?? []) {
    f.add(e.eventType);
    const a = Object.entries(e).find(([k]) => k.endsWith('EventAttributes'))?.[1] ?? {};
    if (a.signalName) f.add(`signal:${a.signalName}`);
    if (a.activityType?.name) f.add(`activity:${a.activityType.name}`);
    if (a.workflowType?.name) f.add(`workflow:${a.workflowType.name}`);
    if (a.markerName) f.add(`marker:${a.markerName}`);
    if (a.continuedExecutionRunId) f.add('continued-as-new run');
    if (a.updateId || a.acceptedRequest) f.add(`update:${a.acceptedRequest?.input?.name ?? ''}`);
    if (a.failure?.cause?.timeoutFailureInfo) f.add(`timeout:${a.failure.cause.timeoutFailureInfo.timeoutType}`);
    if (a.failure?.applicationFailureInfo?.type) f.add(`failure:${a.failure.applicationFailureInfo.type}`);
  }
  return f;
}

const byType = new Map();
for (const lab of fs.readdirSync(from)) {
  for (const file of fs.readdirSync(path.join(from, lab))) {
    const full = path.join(from, lab, file);
    const size = fs.statSync(full).size;
    if (size > MAX_BYTES) continue;
    const type = file.split('--')[0];
    const history = JSON.parse(fs.readFileSync(full, 'utf8'));
    if (!byType.has(type)) byType.set(type, []);
    byType.get(type).push({ lab, file, full, size, features: features(history) });
  }
}

if (replace) fs.rmSync(OUT, { recursive: true, force: true });
/** What the histories already there show, by workflow type. */
const shown = (type) => {
  const seen = new Set();
  const dir = path.join(OUT, type);
  if (!fs.existsSync(dir)) return seen;
  for (const file of fs.readdirSync(dir))
    for (const x of features(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')))) seen.add(x);
  return seen;
};
let total = 0;
for (const [type, candidates] of [...byType].sort()) {
  candidates.sort((a, b) => a.size - b.size);
  const seen = shown(type);
  const before = seen.size;
  const kept = [];
  while (kept.length < MAX_PER_TYPE) {
    let best;
    let bestGain = 0;
    for (const c of candidates) {
      if (kept.includes(c)) continue;
      const gain = [...c.features].filter((x) => !seen.has(x)).length;
      if (gain > bestGain) [best, bestGain] = [c, gain];
    }
    if (!best) break;
    kept.push(best);
    for (const x of best.features) seen.add(x);
  }
  fs.mkdirSync(path.join(OUT, type), { recursive: true });
  for (const k of kept) {
    fs.copyFileSync(
      k.full,
      path.join(OUT, type, `${k.lab.replace(/-[a-z0-9]{6}$/, '')}--${k.file.split('--').slice(1).join('--')}`),
    );
    total += k.size;
  }
  console.log(
    `${type}: added ${kept.length} of ${candidates.length} (${seen.size - before} new features, ${seen.size} in all)`,
  );
}
console.log(`${OUT}: ${Math.round(total / 1024)} KiB added`);
