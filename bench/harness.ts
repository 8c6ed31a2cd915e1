/**
 * Shared parts of the benchmarks: one Temporal dev server and one workflow bundle per
 * benchmark process (as in the tests), percentiles, and results written as JSON under
 * bench/results/ with the date and the machine.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { findTemporalBinary, PROJECT_ROOT } from '../src/temporal/binary.js';
import { startDevServer } from '../src/temporal/dev-server.js';
import { WORKFLOWS_PATH } from '../src/workers/control.js';
import { freePort } from '../test/helpers/ports.js';

export interface BenchEnvironment {
  temporalAddress: string;
  workflowBundlePath: string;
  outputDir: string;
  stop(): Promise<void>;
}

export async function benchEnvironment(name: string, devServerArgs: string[] = []): Promise<BenchEnvironment> {
  const outputDir = path.join(PROJECT_ROOT, 'test-output', `bench-${name}`);
  await fs.mkdir(outputDir, { recursive: true });
  const work = await fs.mkdtemp(path.join(os.tmpdir(), `testbay-bench-${name}-`));
  const port = await freePort();
  const [started, bundled] = await Promise.allSettled([
    startDevServer({
      bin: findTemporalBinary(),
      port,
      logFile: path.join(outputDir, 'temporal.log'),
      fast: true,
      extraArgs: devServerArgs,
    }),
    bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} },
    }),
  ]);
  // A failed bundle must not leave the dev server running behind a dead bench.
  if (started.status === 'rejected' || bundled.status === 'rejected') {
    if (started.status === 'fulfilled') await started.value.stop();
    await fs.rm(work, { recursive: true, force: true });
    throw started.status === 'rejected' ? started.reason : (bundled as PromiseRejectedResult).reason;
  }
  const server = started.value;
  const bundle = bundled.value;
  const workflowBundlePath = path.join(work, 'workflow-bundle.js');
  await fs.writeFile(workflowBundlePath, bundle.code);
  return {
    temporalAddress: server.address,
    workflowBundlePath,
    outputDir,
    stop: async () => {
      await server.stop();
      await fs.rm(work, { recursive: true, force: true });
    },
  };
}

/**
 * The product's own timing settings (the test suite shortens them): benchmarks measure
 * what a lab gets by default.
 */
export const PRODUCT_TIMINGS: Record<string, string> = {
  TESTBAY_HEARTBEAT_TIMEOUT_MS: '10000',
  TESTBAY_HEARTBEAT_THROTTLE_MS: '1000',
  TESTBAY_HOST_PICKUP_TIMEOUT_MS: '30000',
  TESTBAY_KILL_GRACE_MS: '10000',
  TESTBAY_LOG_FLUSH_MS: '1000',
  TESTBAY_LOG_LEVEL: 'warn',
};

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: readonly number[]) => percentile(values, 50);
export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export async function writeResult(name: string, figures: Record<string, unknown>): Promise<string> {
  const file = path.join(PROJECT_ROOT, 'bench', 'results', `${name}.json`);
  const result = {
    benchmark: name,
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    ...figures,
  };
  await fs.writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/** Epoch milliseconds the trivial runner printed after `marker`. */
export function stampAfter(log: string, marker: string): number | undefined {
  const m = new RegExp(`${marker} (\\d+)`).exec(log);
  return m ? Number(m[1]) / 1e6 : undefined;
}

/** A runner that prints nanosecond timestamps at its start and end: `start <ns>`, `end <ns>`. */
export const STAMP_RUNNER = [
  'sh',
  '-c',
  'echo "start $(date +%s%N)"; if [ -n "$HOLD_ON_ATTEMPT" ] && [ "$TESTBAY_ATTEMPT" = "$HOLD_ON_ATTEMPT" ]; then sleep 600; fi; if [ -n "$RUN_SECONDS" ]; then sleep "$RUN_SECONDS"; fi; echo "end $(date +%s%N)"',
];
