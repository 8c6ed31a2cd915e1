/**
 * A real Temporal server (not the dev server) on PostgreSQL, for the production suite:
 * temporal-sql-tool makes the `temporal` and `temporal_visibility` databases and their
 * schemas on a throwaway cluster, then `temporal-server start` runs all four services in
 * one process, configured by environment over its embedded config template, with every
 * port on loopback and a dynamic-config file. Both binaries come from scripts/setup.mjs
 * (`go install` into .tools/temporal-server-<version>/); nothing is downloaded here.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { PROJECT_ROOT } from '../../src/temporal/binary.js';
import type { PostgresServer } from './store-servers.js';

const run = promisify(execFile);

export const TEMPORAL_SERVER_VERSION = '1.32.1';
export const TEMPORAL_SERVER_DIR = path.join(PROJECT_ROOT, '.tools', `temporal-server-${TEMPORAL_SERVER_VERSION}`);
export const TEMPORAL_SERVER = path.join(TEMPORAL_SERVER_DIR, 'server');
export const TEMPORAL_SQL_TOOL = path.join(TEMPORAL_SERVER_DIR, 'sql');

/** The four services of one server process; each opens its own persistence pools. */
const SERVICES = 4;

/**
 * Pool sizes for one Temporal server process (four services, each with a default store
 * pool and a visibility pool) so that together with `reserved` connections (Testbay's
 * API servers, superuser slots) they stay within PostgreSQL's max_connections. The
 * template's defaults (20 and 10 per service, 120 in all) exceed max_connections=100.
 */
export function temporalPoolSizes(
  maxConnections: number,
  reserved: number,
): { maxConns: number; visMaxConns: number; total: number } {
  const perService = Math.floor((maxConnections - reserved) / SERVICES);
  if (perService < 3)
    throw new Error(
      `max_connections=${maxConnections} leaves ${maxConnections - reserved} connections for Temporal's ${SERVICES} services: raise it`,
    );
  const maxConns = Math.min(20, Math.max(2, Math.floor((perService * 2) / 3)));
  const visMaxConns = Math.min(10, Math.max(1, perService - maxConns));
  return { maxConns, visMaxConns, total: SERVICES * (maxConns + visMaxConns) };
}

export interface TemporalServerOptions {
  postgres: PostgresServer;
  /** PostgreSQL's max_connections, and how many of them others need */
  maxConnections: number;
  reservedConnections: number;
  /** where the server's own files go (its dynamic config) */
  dir: string;
  logFile: string;
  /** dynamic-config values (the tests set system.forceSearchAttributesCacheRefreshOnRead) */
  dynamicConfig?: Record<string, unknown>;
}

export interface TemporalServer {
  address: string;
  /** the environment the server runs with (what docs/deployment.md shows) */
  env: Record<string, string>;
  pools: ReturnType<typeof temporalPoolSizes>;
  process(): ChildProcess;
  /** kill -9 and start again on the same databases and ports; resolves once it answers */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A free loopback port below 32768: Temporal keeps membership ports in a smallint column
 * (`cluster_membership.rpc_port`), so an ephemeral port (32768 and up) fails its start-up
 * with "value out of range for type smallint".
 */
async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.unref();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** Runs temporal-sql-tool for one database: create-database, setup-schema -v 0.0, update-schema. */
async function prepareDatabase(
  pgPort: number,
  database: string,
  schema: 'temporal' | 'visibility',
  log: WriteStream,
): Promise<void> {
  const env = {
    ...process.env,
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: '127.0.0.1',
    SQL_PORT: String(pgPort),
    SQL_USER: 'postgres',
    SQL_PASSWORD: '',
    SQL_DATABASE: database,
  };
  for (const args of [
    ['create-database'],
    ['setup-schema', '-v', '0.0'],
    ['update-schema', '--schema-name', `postgresql/v12/${schema}`],
  ]) {
    const { stdout, stderr } = await run(TEMPORAL_SQL_TOOL, args, { env }).catch((err: Error & { stderr?: string }) => {
      throw new Error(
        `temporal-sql-tool ${args.join(' ')} (database ${database}) failed: ${err.stderr ?? err.message}`,
      );
    });
    log.write(`$ SQL_DATABASE=${database} temporal-sql-tool ${args.join(' ')}\n${stdout}${stderr}`);
  }
}

export async function startTemporalServer(options: TemporalServerOptions): Promise<TemporalServer> {
  for (const bin of [TEMPORAL_SERVER, TEMPORAL_SQL_TOOL]) {
    await fs.access(bin).catch(() => {
      throw new Error(
        `the Temporal server is not built (${bin} is missing): run \`npm run setup\` (it needs go on PATH)`,
      );
    });
  }
  const log = createWriteStream(options.logFile, { flags: 'a' });
  await prepareDatabase(options.postgres.port, 'temporal', 'temporal', log);
  await prepareDatabase(options.postgres.port, 'temporal_visibility', 'visibility', log);

  const dynamicConfigFile = path.join(options.dir, 'temporal-dynamic-config.yaml');
  const values = { 'system.forceSearchAttributesCacheRefreshOnRead': true, ...options.dynamicConfig };
  await fs.writeFile(
    dynamicConfigFile,
    Object.entries(values)
      .map(([k, v]) => `${k}:\n  - value: ${JSON.stringify(v)}\n    constraints: {}\n`)
      .join(''),
  );

  const pools = temporalPoolSizes(options.maxConnections, options.reservedConnections);
  const port = await freeLowPort();
  const ports: Record<string, string> = { FRONTEND_GRPC_PORT: String(port) };
  for (const name of [
    'FRONTEND_HTTP_PORT',
    'FRONTEND_MEMBERSHIP_PORT',
    'HISTORY_GRPC_PORT',
    'HISTORY_MEMBERSHIP_PORT',
    'MATCHING_GRPC_PORT',
    'MATCHING_MEMBERSHIP_PORT',
    'WORKER_GRPC_PORT',
    'WORKER_MEMBERSHIP_PORT',
    'INTERNAL_FRONTEND_HTTP_PORT',
  ]) {
    ports[name] = String(await freeLowPort());
  }
  const env: Record<string, string> = {
    DB: 'postgres12',
    POSTGRES_SEEDS: '127.0.0.1',
    DB_PORT: String(options.postgres.port),
    POSTGRES_USER: 'postgres',
    POSTGRES_PWD: '',
    DBNAME: 'temporal',
    VISIBILITY_DBNAME: 'temporal_visibility',
    NUM_HISTORY_SHARDS: '4',
    SQL_MAX_CONNS: String(pools.maxConns),
    SQL_MAX_IDLE_CONNS: String(pools.maxConns),
    SQL_VIS_MAX_CONNS: String(pools.visMaxConns),
    SQL_VIS_MAX_IDLE_CONNS: String(pools.visMaxConns),
    BIND_ON_IP: '127.0.0.1',
    ...ports,
    DYNAMIC_CONFIG_FILE_PATH: dynamicConfigFile,
    LOG_LEVEL: 'warn',
  };
  const address = `127.0.0.1:${port}`;
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(TEMPORAL_SERVER, ['--allow-no-auth', 'start'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    await waitUntilServing(address, child, options.logFile);
  };
  await launch();
  const kill = async (signal: NodeJS.Signals) => {
    // This process, not whichever one `child` names by the time a timer fires.
    const proc = child;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  return {
    address,
    env,
    pools,
    process: () => child,
    async restart() {
      await kill('SIGKILL');
      await launch();
    },
    async stop() {
      await kill('SIGTERM');
      log.end();
    },
  };
}

/** Until the frontend answers and the system namespace's workers have started (a minute at most). */
async function waitUntilServing(address: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the Temporal server exited (${child.exitCode ?? child.signalCode}); see ${logFile}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: 'temporal-system' });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(300);
  }
  child.kill('SIGKILL');
  throw new Error(`the Temporal server did not answer on ${address} within 90 s (last: ${last}); see ${logFile}`);
}
