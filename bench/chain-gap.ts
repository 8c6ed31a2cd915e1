/**
 * bench/chain-gap: the idle gap between consecutive directly-chained jobs on one host —
 * from one runner's last output to the next runner's first — over a chain of 50 jobs with
 * a trivial runner. Goal: p50 < 50 ms.
 */
import { TestLab } from '../test/helpers/lab.js';
import {
  benchEnvironment,
  median,
  percentile,
  PRODUCT_TIMINGS,
  round,
  STAMP_RUNNER,
  stampAfter,
  writeResult,
} from './harness.js';

const JOBS = Number(process.env.CHAIN_JOBS ?? 50);

const env = await benchEnvironment('chain-gap');
const lab = await TestLab.start({
  name: 'chain-gap',
  hosts: [{ id: 'chain-host' }],
  env: PRODUCT_TIMINGS,
  separateProcesses: true,
  ...env,
});
/** A second chain whose runner takes this long (CHAIN_BUSY_MS): the gap when the host, not the workflow, sets the pace. */
const BUSY_MS = Number(process.env.CHAIN_BUSY_MS ?? 300);
const BUSY_JOBS = Number(process.env.CHAIN_BUSY_JOBS ?? 20);

/** Runs a chain of `count` jobs whose runner takes `runMs` between its stamps: the gaps between them. */
async function chain(count: number, runMs: number) {
  const jobs = Array.from({ length: count }, (_, i) => ({
    name: `j${i + 1}`,
    workerClass: 'local',
    runner: { command: STAMP_RUNNER },
    ...(runMs > 0 ? { settings: { RUN_SECONDS: String(runMs / 1000) } } : {}),
    ...(i > 0 ? { startDirectlyAfter: `j${i}` } : {}),
  }));
  const started = Date.now();
  const view = await lab.run({ jobs }, 600_000);
  const wallMs = Date.now() - started;
  if (view.result !== 'passed') throw new Error(`chain did not pass: ${view.result}`);
  const stamps = await Promise.all(
    view.jobs.map(async (j) => {
      const log = await lab.api.log(j.id);
      return { start: stampAfter(log, 'start')!, end: stampAfter(log, 'end')! };
    }),
  );
  const broken = stamps.findIndex((s) => !Number.isFinite(s.start) || !Number.isFinite(s.end));
  if (broken !== -1)
    throw new Error(
      `job ${view.jobs[broken]!.id} has no start/end stamps in its log: ${JSON.stringify(await lab.api.log(view.jobs[broken]!.id))}`,
    );
  const gaps = stamps.slice(1).map((s, i) => s.start - stamps[i]!.end);
  return {
    jobs: count,
    runnerMs: runMs,
    gapMs: {
      p50: round(median(gaps)),
      p95: round(percentile(gaps, 95)),
      min: round(Math.min(...gaps)),
      max: round(Math.max(...gaps)),
    },
    wallMs,
    perJobMs: round(wallMs / count),
  };
}

try {
  const trivial = await chain(JOBS, 0);
  const busy = BUSY_JOBS > 0 ? await chain(BUSY_JOBS, BUSY_MS) : undefined;
  const figures = {
    ...trivial,
    ...(busy ? { busyRunner: busy } : {}),
    goal: 'p50 < 50 ms',
  };
  console.log(`chain-gap: ${JOBS} chained jobs on one host, trivial runner`);
  console.log(
    `  idle gap between jobs: p50 ${trivial.gapMs.p50} ms, p95 ${trivial.gapMs.p95} ms (min ${trivial.gapMs.min}, max ${trivial.gapMs.max})`,
  );
  console.log(`  whole chain ${trivial.wallMs} ms, ${trivial.perJobMs} ms per job`);
  if (busy) {
    console.log(
      `  with a runner of ${BUSY_MS} ms (${BUSY_JOBS} jobs: the next run is always queued on the host when one ends):`,
    );
    console.log(
      `  idle gap p50 ${busy.gapMs.p50} ms, p95 ${busy.gapMs.p95} ms (min ${busy.gapMs.min}, max ${busy.gapMs.max})`,
    );
  }
  console.log(`  written to ${await writeResult('chain-gap', figures)}`);
} catch (err) {
  process.exitCode = 1;
  console.error(err);
} finally {
  await lab.stop();
  await env.stop();
}
// A timer or socket left behind (lab.waitForSubmission's deadline) must not keep the bench alive.
process.exit();
