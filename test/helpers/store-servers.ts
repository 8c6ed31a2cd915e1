/**
 * The result store's real servers for tests and benchmarks: a throwaway PostgreSQL 15
 * cluster (Debian's, installed by scripts/setup.mjs) on a free loopback port, and
 * VersityGW (an S3-compatible server over a folder, built by scripts/setup.mjs into
 * .tools/). Nothing is mocked and nothing is downloaded here. As root the cluster runs
 * as the `postgres` user (the server refuses root); fsync is off, for tests only.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { PROJECT_ROOT } from '../../src/temporal/binary.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

export const PG_BIN = process.env.TESTBAY_PG_BIN ?? '/usr/lib/postgresql/15/bin';
export const VERSITYGW_VERSION = '1.8.0';
export const VERSITYGW = path.join(PROJECT_ROOT, '.tools', `versitygw-${VERSITYGW_VERSION}`, 'versitygw');

export interface PostgresServer {
  /** the server's `postgres` database (create others from it) */
  url: string;
  port: number;
  /** a URL of database `name` on this server */
  urlOf(name: string): string;
  createDatabase(name: string, template?: string): Promise<string>;
  stop(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;
/** As root, runs a PostgreSQL tool as the postgres user. */
const pgTool = (tool: string, args: string[]) =>
  asRoot
    ? run('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, tool), ...args])
    : run(path.join(PG_BIN, tool), args);

/** `maxConnections`: PostgreSQL's max_connections (400 unless given; its own default is 100). */
export async function startPostgres(
  logFile: string,
  settings: { maxConnections?: number } = {},
): Promise<PostgresServer> {
  try {
    await fs.access(path.join(PG_BIN, 'initdb'));
  } catch {
    throw new Error(
      `PostgreSQL 15 is not installed (${PG_BIN}/initdb is missing): run \`node scripts/setup.mjs\` as root, or apt-get install postgresql-15 postgresql-contrib`,
    );
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-pg-'));
  if (asRoot) await run('chown', ['postgres:postgres', dir]);
  const data = path.join(dir, 'data');
  await pgTool('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=${settings.maxConnections ?? 400} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB`;
  // The server writes its log in its own folder (it runs as postgres); stop() copies it to logFile.
  const serverLog = path.join(dir, 'server.log');
  await pgTool('pg_ctl', ['-D', data, '-l', serverLog, '-w', '-o', options, 'start']).catch(async (err: unknown) => {
    const log = await fs.readFile(serverLog, 'utf8').catch(() => '');
    throw new Error(`PostgreSQL did not start: ${String(err)}\n${log.slice(-2000)}`);
  });
  const urlOf = (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`;
  return {
    url: urlOf('postgres'),
    port,
    urlOf,
    async createDatabase(name, template) {
      const client = new pg.Client({ connectionString: urlOf('postgres') });
      await client.connect();
      try {
        await client.query(
          `CREATE DATABASE ${pg.escapeIdentifier(name)}${template ? ` TEMPLATE ${pg.escapeIdentifier(template)}` : ''}`,
        );
      } finally {
        await client.end();
      }
      return urlOf(name);
    },
    async stop() {
      await pgTool('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await fs.copyFile(serverLog, logFile).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export interface S3Server {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  /** creates a bucket (names: lowercase letters, digits, dashes) */
  createBucket(name: string): Promise<void>;
  /** the folder it serves: bucket `b`'s objects are files under `<root>/b/` */
  root: string;
  stop(): Promise<void>;
  process: ChildProcess;
}

export async function startVersity(logFile: string): Promise<S3Server> {
  try {
    await fs.access(VERSITYGW);
  } catch {
    throw new Error(
      `VersityGW is not built (${VERSITYGW} is missing): run \`node scripts/setup.mjs\` (it needs go on PATH)`,
    );
  }
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-s3-'));
  const port = await freePort();
  const accessKey = 'testbay';
  const secretKey = `secret-${Math.random().toString(36).slice(2)}`;
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(VERSITYGW, ['--port', `127.0.0.1:${port}`, '--quiet', 'posix', root], {
    env: { ...process.env, ROOT_ACCESS_KEY: accessKey, ROOT_SECRET_KEY: secretKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out, { end: false });
  child.stderr.pipe(out, { end: false });
  const endpoint = `http://127.0.0.1:${port}`;
  const region = 'us-east-1';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`VersityGW exited with ${child.exitCode}; see ${logFile}`);
    const up = await fetch(endpoint).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`VersityGW did not answer on ${endpoint} within 20 s`);
    await sleep(100);
  }
  return {
    endpoint,
    accessKey,
    secretKey,
    region,
    root,
    process: child,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([gone, sleep(5_000).then(() => child.kill('SIGKILL'))]);
      }
      out.end();
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}
