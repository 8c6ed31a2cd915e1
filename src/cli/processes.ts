/**
 * @module The long-running commands: `testbay server`, `control`, `host` and the one-shot
 * `setup`. Each stops cleanly on SIGINT/SIGTERM, and when started by `testbay dev` also
 * when its parent goes away (the IPC channel closes).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config.js';
import { DEFAULT_POOL, HOST_ID_PATTERN, POOL_PATTERN } from '../domain/ids.js';
import { loggerFor } from '../logger.js';
import { closeConnection, connectClient, connectTemporal, connectWorker } from '../temporal/connection.js';
import { ensureNamespace } from '../temporal/namespace.js';
import { Client } from '@temporalio/client';
import { startServer } from '../api/server.js';
import { importFolder, type ImportReport } from '../api/store/import-folder.js';
import { checkObjectStore, objectStoreOf, openDatabase } from '../api/store/open-store.js';
import { SqlResultStore } from '../api/store/sql-store.js';
import { migrate } from '../api/store/sql/migrations.js';
import { RETENTION_SCHEDULE_ID } from '../domain/ids.js';
import { loadPayloadKey } from '../sealing.js';
import { createControlWorker, ensureScheduler } from '../workers/control.js';
import { HostConfigError, hostAddress, loadHostConfigFile, mergeHostConfig } from '../activities/host/host-config.js';
import { RunnerUserError } from '../activities/host/runner-user.js';
import { AssetAllowError } from '../activities/host/asset-allow.js';
import { startHost } from '../workers/host.js';
import { ensureSchedules } from '../workers/schedules.js';
import { takeToken, TokenSourceError } from '../workers/token-source.js';
import { installSdkLogger } from '../workers/sdk-logger.js';
import { taskFailureMetrics } from '../workers/task-failures.js';
import { UsageError } from './lab-target.js';

/** Runs `stop` on the first SIGINT/SIGTERM (or parent exit); a second signal exits at once. */
function untilStopped(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = () => {
      if (stopping) process.exit(130);
      stopping = true;
      stop().then(resolve, (err: unknown) => {
        process.stderr.write(`error while stopping: ${String(err)}\n`);
        resolve();
      });
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    if (process.send) process.on('disconnect', handler);
  });
}

/** A bad token file or runner user is a usage error (exit 2 with the reason), not a crash. */
function usage(err: unknown): never {
  if (err instanceof TokenSourceError || err instanceof RunnerUserError || err instanceof AssetAllowError)
    throw new UsageError(err.message);
  throw err;
}

export async function runServerProcess(config: Config): Promise<number> {
  const log = loggerFor(config, 'api');
  const server = await startServer(config, log);
  await untilStopped(() => server.close());
  return 0;
}

export async function runControlProcess(config: Config): Promise<number> {
  const log = loggerFor(config, 'control');
  installSdkLogger(log);
  const token = await takeToken({
    what: 'TESTBAY_CONTROL_TOKEN_FILE',
    file: config.tokens.controlFile,
    fromEnv: config.tokens.control,
  }).catch(usage);
  if (!token)
    throw new UsageError(
      'TESTBAY_CONTROL_TOKEN_FILE (or TESTBAY_CONTROL_TOKEN) is not set: the control worker writes job records through the API with a control token',
    );
  const connection = await connectWorker(config.temporal);
  const client = await connectClient(config.temporal);
  const worker = await createControlWorker(config, log, {
    connection,
    controlToken: token,
    ...(config.workflowBundle ? { workflowBundle: { codePath: config.workflowBundle } } : {}),
  });
  const running = worker.run();
  await ensureScheduler(client, config);
  await ensureSchedules(client, config);
  const metrics =
    config.controlMetricsPort === undefined
      ? undefined
      : await serveControlMetrics(config.api.bind, config.controlMetricsPort);
  log.info('control worker running', {
    namespace: config.temporal.namespace,
    ...(metrics ? { metrics: metrics.url } : {}),
  });
  await Promise.race([untilStopped(() => Promise.resolve(worker.shutdown())), running.then(() => undefined)]);
  await running;
  metrics?.server.close();
  await connection.close();
  await closeConnection(client.connection);
  return 0;
}

/** The control worker's own metrics (its workflow task failures), for Prometheus to scrape. */
async function serveControlMetrics(bind: string, port: number): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(taskFailureMetrics());
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new UsageError(`TESTBAY_CONTROL_METRICS_PORT=${port}: cannot listen on ${bind}:${port} (${err.message})`)),
    );
    server.listen(port, bind, () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return { server, url: `http://${bind}:${bound}/metrics` };
}

export async function runHostProcess(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      id: { type: 'string' },
      class: { type: 'string', multiple: true },
      pool: { type: 'string' },
      cap: { type: 'string', multiple: true },
      'work-dir': { type: 'string' },
      'cache-dir': { type: 'string' },
      'runner-path': { type: 'string', multiple: true },
      'require-command': { type: 'string', multiple: true },
      'token-file': { type: 'string' },
      'runner-user': { type: 'string' },
      address: { type: 'string' },
    },
  });
  const flagCaps: Record<string, string> = {};
  for (const cap of values.cap ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$/.exec(cap);
    if (!m) throw new UsageError(`--cap ${cap}: write key=value (e.g. --cap memory_gb=16)`);
    flagCaps[m[1]!] = m[2]!;
  }
  const fromFile = values.config
    ? await loadHostConfigFile(values.config).catch((err: unknown) => {
        throw err instanceof HostConfigError ? new UsageError(err.message) : err;
      })
    : {};
  if (values.address !== undefined && !hostAddress.safeParse(values.address).success)
    throw new UsageError(`--address ${values.address}: must be a host name or an IP address`);
  const settings = mergeHostConfig(fromFile, {
    ...(values.id !== undefined ? { id: values.id } : {}),
    classes: (values.class ?? []).flatMap((c) => c.split(',')).filter(Boolean),
    ...(values.pool !== undefined ? { pool: values.pool } : {}),
    caps: flagCaps,
    ...(values['work-dir'] !== undefined ? { workDir: path.resolve(values['work-dir']) } : {}),
    ...(values['cache-dir'] !== undefined ? { cacheDir: path.resolve(values['cache-dir']) } : {}),
    runnerPath: (values['runner-path'] ?? []).map((p) => path.resolve(p)),
    requireCommands: values['require-command'] ?? [],
    ...(values['token-file'] !== undefined ? { tokenFile: path.resolve(values['token-file']) } : {}),
    ...(values['runner-user'] !== undefined ? { runnerUser: values['runner-user'] } : {}),
    ...(values.address !== undefined ? { address: values.address } : {}),
  });
  const hostId = settings.id;
  if (!hostId || !HOST_ID_PATTERN.test(hostId))
    throw new UsageError('--id: required, letters, digits, ".", "_", "-" (e.g. --id h1)');
  const workerClasses = settings.classes ?? [];
  if (workerClasses.length === 0) throw new UsageError('--class: at least one worker class (e.g. --class qemu_x86_64)');
  const pool = settings.pool ?? DEFAULT_POOL;
  if (!POOL_PATTERN.test(pool))
    throw new UsageError(`--pool ${pool}: letters, digits, ".", "_", "-" (at most 63 characters; e.g. --pool gpu)`);
  const workDir = settings.workDir ?? path.join(config.dataDir, 'hosts', hostId);
  const token = await takeToken({
    what: settings.tokenFile ? '--token-file' : 'TESTBAY_HOST_TOKEN_FILE',
    file: settings.tokenFile ?? config.tokens.hostFile,
    fromEnv: config.tokens.host,
  }).catch(usage);
  if (!token)
    throw new UsageError(
      'no host token: give --token-file FILE (or TESTBAY_HOST_TOKEN_FILE, or TESTBAY_HOST_TOKEN): hosts upload results with a host token',
    );
  const log = loggerFor(config, `host ${hostId}`);
  let payloadKey;
  try {
    payloadKey = loadPayloadKey({ file: config.payloadKeyFile });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  installSdkLogger(log);
  const connection = await connectWorker(config.temporal);
  const client = await connectClient(config.temporal);
  const host = await startHost(
    config,
    log,
    {
      hostId,
      workerClasses,
      pool,
      capabilities: settings.caps ?? {},
      workDir,
      cacheDir: settings.cacheDir ?? config.host.cacheDir ?? path.join(workDir, 'cache'),
      runnerPath: settings.runnerPath ?? [],
      requireCommands: settings.requireCommands ?? [],
      hostToken: token,
      payloadKey,
      runnerUser: settings.runnerUser ?? config.host.runnerUser,
      assets: settings.assets,
      hooks: {
        ...(settings.provisionCommand ? { provisionCommand: settings.provisionCommand } : {}),
        ...(settings.recoverCommand ? { recoverCommand: settings.recoverCommand } : {}),
        ...(settings.powerCommand ? { powerCommand: settings.powerCommand } : {}),
      },
      ...(settings.reserve !== undefined ? { reserve: settings.reserve } : {}),
      ...(settings.address !== undefined ? { address: settings.address } : {}),
    },
    { connection, client },
  ).catch(usage);
  log.info('host running', { taskQueue: `host/${hostId}`, classes: workerClasses, pool });
  await Promise.race([untilStopped(() => host.shutdown()), host.done]);
  await host.done;
  log.info('host stopped');
  await connection.close();
  await closeConnection(client.connection);
  return 0;
}

export async function runSetup(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      create: { type: 'boolean' },
      'retention-hours': { type: 'string' },
      'import-folder': { type: 'string' },
      'payload-key': { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const say = (text: string) => {
    if (!values.json) process.stdout.write(`${text}\n`);
  };
  if (values['payload-key']) {
    // The key the API servers and hosts share: made once here, then copied to each of them.
    loadPayloadKey({ file: config.payloadKeyFile, create: true });
    say(
      `payload key in ${config.payloadKeyFile} (mode 0600): copy it to every API server and host, or give it to them as TESTBAY_PAYLOAD_KEY`,
    );
  }
  const log = loggerFor(config, 'setup');
  // The result store first: its schema, and what an earlier version left in a folder.
  const { db, release } = await openDatabase(config.store, log);
  let imported: ImportReport | undefined;
  try {
    const applied = await migrate(db);
    say(
      applied.length > 0 ? `result store: applied migrations ${applied.join(', ')}` : 'result store: schema up to date',
    );
    if (values['import-folder']) {
      const objects = objectStoreOf(config.store);
      await checkObjectStore(config.store, objects);
      const store = await SqlResultStore.open(db, objects, log, { sweepMs: 0 });
      imported = await importFolder(store, path.resolve(values['import-folder']), log);
      say(
        `imported ${imported.submissions} submissions, ${imported.jobs} jobs, ${imported.logs} logs, ${imported.artifacts} artifacts, ${imported.verdictParts} verdict parts and ${imported.lateReports} late reports from ${values['import-folder']} (${imported.present} already there${imported.skipped.length ? `; skipped ${imported.skipped.length}: ${imported.skipped.slice(0, 5).join(', ')}${imported.skipped.length > 5 ? ', …' : ''}` : ''})`,
      );
      objects.close?.();
    }
  } finally {
    await db.close();
    await release();
  }
  const connection = await connectTemporal(config.temporal);
  const retentionHours = values['retention-hours'] ? Number(values['retention-hours']) : undefined;
  await ensureNamespace(connection, config.temporal.namespace, {
    create: values.create === true,
    ...(retentionHours ? { retentionHours } : {}),
  });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  await ensureSchedules(client, config);
  say(
    `namespace ${config.temporal.namespace} on ${config.temporal.address} is ready for Testbay (schedule ${RETENTION_SCHEDULE_ID} in place)`,
  );
  if (values.json)
    process.stdout.write(
      `${JSON.stringify({ namespace: config.temporal.namespace, schedule: RETENTION_SCHEDULE_ID, ...(imported ? { imported } : {}) }, null, 2)}\n`,
    );
  await closeConnection(connection);
  return 0;
}
