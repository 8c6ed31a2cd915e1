/**
 * Fresh result stores on each engine for tests, on the run's shared servers (see
 * test/global-setup.ts): the embedded PGlite (a copy of the run's migrated template
 * folder) with the folder object store, PostgreSQL with the folder object store, and
 * PostgreSQL with S3 (VersityGW). Each store gets a database (and bucket) of its own.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { inject as Inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';

export type EngineName = 'pglite' | 'postgres' | 'postgres+s3';
export const ENGINES: EngineName[] = ['pglite', 'postgres', 'postgres+s3'];

const execFileAsync = promisify(execFile);

/** vitest's inject, loaded only inside vitest (labs also run in benchmarks) */
const inject: typeof Inject = (key) => {
  const provided = (globalThis as { __testbayProvided?: Record<string, unknown> }).__testbayProvided;
  if (provided && key in provided) return provided[key] as never;
  return injectFromVitest(key);
};
let injectFromVitest: typeof Inject = () => {
  throw new Error('not in vitest: call provideStoreServers() first');
};
try {
  ({ inject: injectFromVitest } = await import('vitest'));
} catch {
  // outside vitest
}

/** Outside vitest (benchmarks): where the run's servers are. */
export function provideStoreServers(values: { pgUrl?: string; s3?: unknown; pgliteTemplate?: string }): void {
  (globalThis as { __testbayProvided?: Record<string, unknown> }).__testbayProvided = values;
}

let counter = 0;
const unique = (prefix: string) => `${prefix}${process.pid}x${Date.now().toString(36)}x${counter++}`;

/** A PostgreSQL database of its own, created from the migrated template. */
export async function testDatabase(): Promise<string> {
  const { default: pg } = await import('pg');
  const name = unique('t');
  const base = inject('pgUrl');
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name} TEMPLATE testbay_template`);
  } finally {
    await client.end();
  }
  return base.replace(/\/postgres$/, `/${name}`);
}

/** A bucket of its own on the run's S3 server. */
export async function testBucket(): Promise<string> {
  const { CreateBucketCommand, S3Client } = await import('@aws-sdk/client-s3');
  const s3 = inject('s3');
  const name = unique('b');
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await client.send(new CreateBucketCommand({ Bucket: name }));
  client.destroy();
  return name;
}

/**
 * Copies the run's migrated embedded database into `<dataDir>/db` (what initdb would take
 * seconds for). Without one (a benchmark that provided none) the store creates its own.
 */
export async function seedEmbedded(dataDir: string): Promise<void> {
  let template: string;
  try {
    template = inject('pgliteTemplate');
  } catch {
    return;
  }
  await fs.mkdir(dataDir, { recursive: true });
  // cp(1), not fs.cp: 39 MB in ~500 files cost fs.cp 650 ms of this process's CPU a lab.
  await execFileAsync('cp', ['-r', template, path.join(dataDir, 'db')]);
}

/** The environment of an engine: the data dir, and where its database and objects are. */
export async function engineEnv(engine: EngineName, dataDir: string): Promise<Record<string, string>> {
  if (engine === 'pglite') {
    await seedEmbedded(dataDir);
    return { TESTBAY_DATA_DIR: dataDir };
  }
  const env: Record<string, string> = { TESTBAY_DATA_DIR: dataDir, TESTBAY_DATABASE_URL: await testDatabase() };
  if (engine === 'postgres+s3') {
    const s3 = inject('s3');
    Object.assign(env, {
      TESTBAY_OBJECT_STORE: `s3://${await testBucket()}/testbay`,
      TESTBAY_S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: s3.accessKey,
      AWS_SECRET_ACCESS_KEY: s3.secretKey,
      AWS_REGION: s3.region,
    });
  }
  return env;
}

export async function engineConfig(
  engine: EngineName,
): Promise<{ config: Config; env: Record<string, string>; dir: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `testbay-store-${engine.replace('+', '-')}-`));
  const env = await engineEnv(engine, dir);
  return { config: loadConfig(env), env, dir };
}
