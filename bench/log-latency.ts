/**
 * bench/log-latency: how long a line the runner writes takes to show up for someone
 * following the job's log (`GET /jobs/:id/log?follow=1`, what `testbay logs -f` uses):
 * a runner prints 100 time-stamped lines, 50 ms apart; the follower notes when each
 * arrives. Run with the product's log flush interval (TESTBAY_LOG_FLUSH_MS, 1000 ms) and
 * a short one (200 ms). Same machine, same clock.
 */
import { TestLab } from '../test/helpers/lab.js';
import { benchEnvironment, median, percentile, round, writeResult } from './harness.js';

const LINES = Number(process.env.LINES ?? 100);
const EVERY_MS = 50;
// Prints `line <n> <epoch ms>` lines; the stamp is taken right before the write.
const RUNNER = [
  process.execPath,
  '-e',
  `let n = 0; const t = setInterval(() => { process.stdout.write('line ' + (++n) + ' ' + (performance.timeOrigin + performance.now()).toFixed(2) + '\\n'); if (n === ${LINES}) { clearInterval(t); setTimeout(() => {}, 200); } }, ${EVERY_MS});`,
];

async function measure(flushMs: number) {
  const env = await benchEnvironment(`log-latency-${flushMs}`);
  const lab = await TestLab.start({
    name: 'log-latency',
    hosts: [{ id: 'log-host' }],
    env: { TESTBAY_LOG_LEVEL: 'warn', TESTBAY_LOG_FLUSH_MS: String(flushMs) },
    ...env,
  });
  try {
    const { id, jobs } = await lab.submit({
      jobs: [{ name: 'lines', workerClass: 'local', runner: { command: RUNNER } }],
    });
    const latencies: number[] = [];
    let buffer = '';
    await lab.submitter.followLog(jobs[0]!.id, (text) => {
      const now = performance.timeOrigin + performance.now();
      buffer += text;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^line \d+ ([\d.]+)$/.exec(line);
        if (m) latencies.push(now - Number(m[1]));
      }
    });
    const view = await lab.waitForSubmission(id);
    if (view.result !== 'passed') throw new Error(`job did not pass: ${view.result}`);
    if (latencies.length !== LINES) throw new Error(`followed ${latencies.length} of ${LINES} lines`);
    return {
      flushMs,
      lines: LINES,
      p50: round(median(latencies)),
      p90: round(percentile(latencies, 90)),
      max: round(Math.max(...latencies)),
      min: round(Math.min(...latencies)),
    };
  } finally {
    await lab.stop();
    await env.stop();
  }
}

try {
  const runs = [await measure(1000), await measure(200)];
  console.log(
    `log-latency: runner writes a line → it arrives through GET /jobs/:id/log?follow=1 (${LINES} lines, one every ${EVERY_MS} ms)`,
  );
  for (const r of runs)
    console.log(`  TESTBAY_LOG_FLUSH_MS=${r.flushMs}: p50 ${r.p50} ms, p90 ${r.p90} ms (min ${r.min}, max ${r.max})`);
  console.log(`  written to ${await writeResult('log-latency', { runs })}`);
} catch (err) {
  process.exitCode = 1;
  console.error(err);
}
// A timer or socket left behind (lab.waitForSubmission's deadline) must not keep the bench alive.
process.exit();
