/**
 * Starts the run's shared servers once (vitest globalSetup) and gives them to test files
 * through `inject`: one Temporal dev server (in memory, headless, fast SQLite), the
 * workflows bundled once, one throwaway PostgreSQL cluster with a migrated template
 * database, one VersityGW (S3) server, and a migrated embedded (PGlite) database folder
 * that labs copy instead of creating their own (initdb in WebAssembly takes seconds).
 * The binaries come from the project's setup; nothing is downloaded here.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { migrate } from '../src/api/store/sql/migrations.js';
import { openPgDb } from '../src/api/store/sql/pg-db.js';
import { openPgliteDb } from '../src/api/store/sql/pglite-db.js';
import { findTemporalBinary } from '../src/temporal/binary.js';
import { startDevServer, type DevServer } from '../src/temporal/dev-server.js';
import { WORKFLOWS_PATH } from '../src/workers/control.js';
import { cliBundle } from '../scripts/cli-bundle.mjs';
import { freePort } from './helpers/ports.js';
import { startPostgres, startVersity, type PostgresServer, type S3Server } from './helpers/store-servers.js';

export { freePort };

/** The template database every test database is created from (migrated once). */
export const PG_TEMPLATE = 'testbay_template';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
    testOutputDir: string;
    /** the PostgreSQL server: `postgres` database URL */
    pgUrl: string;
    /** the S3 server (VersityGW) */
    s3: { endpoint: string; accessKey: string; secretKey: string; region: string };
    /** a migrated embedded database folder to copy */
    pgliteTemplate: string;
  }
}

let server: DevServer | undefined;
let postgres: PostgresServer | undefined;
let s3: S3Server | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const outputDir = path.resolve('test-output');
  await fs.mkdir(outputDir, { recursive: true });
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-run-'));
  const pgliteTemplate = path.join(work, 'pglite-template');
  const stopAll = async () => {
    await Promise.all([server?.stop(), postgres?.stop(), s3?.stop()]);
    await fs.rm(work, { recursive: true, force: true });
  };
  try {
    // All settle before anything is judged: a failed part must not leave another running.
    const parts = await Promise.allSettled([
      freePort().then((port) =>
        startDevServer({
          bin: findTemporalBinary(),
          port,
          logFile: path.join(outputDir, 'temporal-dev-server.log'),
          fast: true,
        }),
      ),
      bundleWorkflowCode({
        workflowsPath: WORKFLOWS_PATH,
        logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} },
      }),
      startPostgres(path.join(outputDir, 'postgres.log')).then(async (p) => {
        postgres = p;
        const db = await openPgDb({ url: await p.createDatabase(PG_TEMPLATE), poolSize: 2 });
        await migrate(db);
        await db.close();
      }),
      startVersity(path.join(outputDir, 'versitygw.log')).then((v) => (s3 = v)),
      openPgliteDb(pgliteTemplate).then(async (db) => {
        await migrate(db);
        await db.close();
      }),
      // The compiled CLI every host and CLI process of the run starts from (built once, here).
      cliBundle().then((entry) => {
        if (!entry && process.env.TESTBAY_TSX !== '1')
          throw new Error('could not compile the CLI (scripts/cli-bundle.mjs)');
      }),
    ]);
    if (parts[0].status === 'fulfilled') server = parts[0].value;
    const failed = parts.find((p) => p.status === 'rejected');
    if (failed) throw failed.reason;
    const started = server!;
    const bundle = (parts[1] as PromiseFulfilledResult<{ code: string }>).value;
    const bundlePath = path.join(work, 'workflow-bundle.js');
    await fs.writeFile(bundlePath, bundle.code);
    project.provide('temporalAddress', started.address);
    project.provide('workflowBundlePath', bundlePath);
    project.provide('testOutputDir', outputDir);
    project.provide('pgUrl', postgres!.url);
    project.provide('s3', {
      endpoint: s3!.endpoint,
      accessKey: s3!.accessKey,
      secretKey: s3!.secretKey,
      region: s3!.region,
    });
    project.provide('pgliteTemplate', pgliteTemplate);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return stopAll;
}
