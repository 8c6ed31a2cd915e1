/**
 * Starts one Temporal dev server for the whole test run (in memory, headless, fast
 * SQLite) and bundles the workflows once; test files get both through `inject`.
 * The server binary comes from the project's setup; nothing is downloaded here.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { findTemporalBinary } from '../src/temporal/binary.js';
import { startDevServer, type DevServer } from '../src/temporal/dev-server.js';
import { WORKFLOWS_PATH } from '../src/workers/control.js';
import { freePort } from './helpers/ports.js';

export { freePort };

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
    testOutputDir: string;
  }
}

let server: DevServer | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const outputDir = path.resolve('test-output');
  await fs.mkdir(outputDir, { recursive: true });
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-run-'));
  const [started, bundle] = await Promise.all([
    freePort().then((port) =>
      startDevServer({ bin: findTemporalBinary(), port, logFile: path.join(outputDir, 'temporal-dev-server.log'), fast: true }),
    ),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} } }),
  ]);
  server = started;
  const bundlePath = path.join(work, 'workflow-bundle.js');
  await fs.writeFile(bundlePath, bundle.code);
  project.provide('temporalAddress', started.address);
  project.provide('workflowBundlePath', bundlePath);
  project.provide('testOutputDir', outputDir);
  return async () => {
    await server?.stop();
    await fs.rm(work, { recursive: true, force: true });
  };
}
