/**
 * bench/batch: 2,000 trivial tests in batches of 50 over 10 local hosts, run twice in one
 * process: once with no faults, once with 5 % of the batches killed mid-way (their
 * runners get SIGKILL). Prints both wall times and their ratio (goal: faulted ≤ 1.15×
 * clean), tests lost (must be 0), duplicate results counted (must be 0), the per-test
 * dispatch overhead, and the batch-run workflow's largest history.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestLab } from '../test/helpers/lab.js';
import { benchEnvironment, round, writeResult } from './harness.js';

const TESTS = Number(process.env.BATCH_TESTS ?? 2_000);
const BATCH = Number(process.env.BATCH_SIZE ?? 50);
const HOSTS = Number(process.env.BATCH_HOSTS ?? 10);
const TEST_MS = Number(process.env.BATCH_TEST_MS ?? 20);
const KILL_SHARE = 0.05;

const env = await benchEnvironment('batch');
const lab = await TestLab.start({
  name: 'batch-bench',
  hosts: Array.from({ length: HOSTS }, (_, i) => ({ id: `w${i + 1}` })),
  env: { TESTBAY_LOG_LEVEL: 'warn', TESTBAY_BROKEN_AFTER_ABORTS: '100' },
  ...env,
});

const spec = (label: string) => ({
  name: label,
  batchRuns: [
    {
      name: 'suite',
      workerClass: 'local',
      runner: { command: ['batch-test'] },
      settings: { TEST_MS: String(TEST_MS) },
      batchSize: BATCH,
      maxHosts: HOSTS,
      tests: Array.from({ length: TESTS }, (_, i) => `t${i + 1}`),
    },
  ],
});

/** Kills the runner of `count` batches once each is half-way. */
async function killBatches(submissionId: string, count: number): Promise<string[]> {
  const killed: string[] = [];
  const halfway = (BATCH * TEST_MS) / 2;
  const seen = new Map<string, number>();
  while (killed.length < count) {
    const view = await lab.api.submission(submissionId);
    const run = view.batchRuns?.[0];
    if (!run || run.state === 'done') break;
    for (const b of run.running) {
      if (killed.includes(b.batchId) || b.tests < BATCH) continue;
      const first = seen.get(b.batchId) ?? Date.now();
      seen.set(b.batchId, first);
      if (Date.now() - first < halfway || killed.length >= count) continue;
      const pidFile = path.join(lab.workDirOf(b.hostId), 'runners', `${b.batchId}.pid`);
      const pgid = Number(await fs.readFile(pidFile, 'utf8').catch(() => '0'));
      if (pgid > 1) {
        try {
          process.kill(-pgid, 'SIGKILL');
          killed.push(b.batchId);
        } catch {
          // already gone
        }
      }
    }
    await sleep(25);
  }
  return killed;
}

async function run(label: string, kills: number) {
  const started = Date.now();
  const { id } = await lab.submit(spec(label));
  const killed = kills > 0 ? await killBatches(id, kills) : [];
  const view = await lab.waitForSubmission(id, 600_000);
  const wallMs = Date.now() - started;
  const batchRun = view.batchRuns![0]!;
  const verdicts = (await lab.api.verdicts(batchRun.id)).verdicts;
  let largestHistory = 0;
  for await (const wf of lab.temporal.workflow.list({ query: `WorkflowId = "${batchRun.workflowId}"` }))
    largestHistory = Math.max(largestHistory, wf.historyLength ?? 0);
  return {
    wallMs,
    killed: killed.length,
    verdicts: verdicts.length,
    passed: batchRun.counts.passed,
    lost: batchRun.counts.lost,
    /** verdict records beyond one per test: must be 0 */
    duplicates: verdicts.length - new Set(verdicts.map((v) => v.test)).size,
    /** results that came after their attempt was given up: kept as history, never a verdict */
    lateResults: verdicts.reduce((n, v) => n + (v.late ?? 0), 0),
    /** the ledger's classes add up to the tests */
    countsAddUp:
      batchRun.counts.passed +
        batchRun.counts.failed +
        batchRun.counts.flaky +
        batchRun.counts.lost +
        batchRun.counts.skipped +
        batchRun.counts.cancelled ===
      TESTS,
    rerunTests: verdicts.filter((v) => v.attempts > 1).length,
    batches: batchRun.batches,
    isolated: batchRun.isolated.length,
    largestHistory,
    /** wall time beyond the tests' own running time, per test */
    overheadPerTestMs: round((wallMs * HOSTS - TESTS * TEST_MS) / TESTS, 2),
  };
}

try {
  // Warm-up: every host runs a batch once (process start, JIT, caches), untimed.
  await run('warm-up', 0);
  const clean = await run('clean', 0);
  const faulted = await run('faulted', Math.max(1, Math.round((TESTS / BATCH) * KILL_SHARE)));
  const ratio = round(faulted.wallMs / clean.wallMs, 2);
  const figures = {
    tests: TESTS,
    batchSize: BATCH,
    hosts: HOSTS,
    testMs: TEST_MS,
    clean,
    faulted,
    ratio,
    goal: 'faulted ≤ 1.15 × clean; lost 0; duplicates 0',
  };
  console.log(`batch: ${TESTS} tests × ${TEST_MS} ms, batches of ${BATCH}, ${HOSTS} hosts`);
  console.log(
    `  clean:   ${clean.wallMs} ms, ${clean.batches} batches, lost ${clean.lost}, duplicates ${clean.duplicates}, overhead ${clean.overheadPerTestMs} ms per test`,
  );
  console.log(
    `  faulted: ${faulted.wallMs} ms with ${faulted.killed} batches killed, ${faulted.batches} batches, ${faulted.isolated} isolated, ${faulted.rerunTests} tests rerun, lost ${faulted.lost}, duplicates ${faulted.duplicates}`,
  );
  console.log(
    `  ratio faulted/clean: ${ratio} (goal ≤ 1.15); largest workflow history ${Math.max(clean.largestHistory, faulted.largestHistory)} events`,
  );
  console.log(`  written to ${await writeResult('batch', figures)}`);
  if (
    clean.lost + faulted.lost + clean.duplicates + faulted.duplicates > 0 ||
    clean.verdicts !== TESTS ||
    faulted.verdicts !== TESTS ||
    !clean.countsAddUp ||
    !faulted.countsAddUp
  ) {
    process.exitCode = 1;
    console.error('  FAILED: tests lost, duplicated or missing');
  }
} catch (err) {
  process.exitCode = 1;
  console.error(err);
} finally {
  await lab.stop();
  await env.stop();
}
// A timer or socket left behind (lab.waitForSubmission's deadline) must not keep the bench alive.
process.exit();
