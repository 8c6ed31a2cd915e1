/**
 * @module `testbay dev` (what `npm start` runs): the embedded lab on one machine. It
 * starts a Temporal dev server persisted under the data dir (with its Web UI), prepares
 * the namespace, then the API, the control worker and three local hosts as child
 * processes, waits until the scheduler lists every host, prints the URLs and a token,
 * and stays in the foreground. From then on a process that fails is restarted with
 * backoff and the rest of the lab runs on (supervisor.ts); only SIGINT/SIGTERM — also one
 * during start-up — stops the lab: every child (hosts first, so their runners are
 * stopped), nothing left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { newToken, type TokenEntry } from '../api/auth.js';
import { newLoginCode } from '../api/routes/session.js';
import { DEFAULT_PORTS, labFile, loginCodeFile, tokensFile, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { findTemporalBinary, PROJECT_ROOT } from '../temporal/binary.js';
import { startDevServer } from '../temporal/dev-server.js';
import { ensureNamespace } from '../temporal/namespace.js';
import { loadPayloadKey } from '../sealing.js';
import { writeTokenFile } from '../workers/token-source.js';
import type { LabInfo } from './lab-target.js';
import { describeEnd, restartPolicyFromEnv, type ProcessEnd } from './restart-policy.js';
import { embeddedRunners } from './runner-account.js';
import { endOf, Supervisor, type Part } from './supervisor.js';

export const LOCAL_HOSTS = ['local-1', 'local-2', 'local-3'] as const;
/** The embedded lab's health check for its hosts' class (TESTBAY_HEALTH_CHECKS replaces it). */
export const EMBEDDED_HEALTH_CHECKS = {
  local: {
    runner: { command: ['os-test'] },
    settings: { MODULES: 'boot', MODULE_MS: '200', SCREENSHOTS: '0' },
    timeoutMs: 60_000,
  },
};
const isHost = (name: string) => (LOCAL_HOSTS as readonly string[]).includes(name);
const BIN = fileURLToPath(new URL('../../bin/testbay.js', import.meta.url));

interface LabTokens {
  submit: string;
  operate: string;
  control: string;
  hosts: Record<string, string>;
}

/** Reuses the lab's tokens across restarts; creates them on first start (file mode 600). */
async function labTokens(config: Config): Promise<LabTokens> {
  const file = tokensFile(config.dataDir);
  const existing = await fs
    .readFile(file, 'utf8')
    .then((t) => JSON.parse(t) as TokenEntry[])
    .catch(() => undefined);
  const find = (role: TokenEntry['role'], hostId?: string) =>
    existing?.find((e) => e.role === role && e.hostId === hostId)?.token;
  const tokens: LabTokens = {
    submit: find('submit') ?? newToken(),
    operate: find('operate') ?? newToken(),
    control: find('control') ?? newToken(),
    hosts: Object.fromEntries(LOCAL_HOSTS.map((h) => [h, find('host', h) ?? newToken()])),
  };
  const entries: TokenEntry[] = [
    { token: tokens.submit, role: 'submit', name: 'tester' },
    { token: tokens.operate, role: 'operate', name: 'operator' },
    { token: tokens.control, role: 'control', name: 'control-worker' },
    ...LOCAL_HOSTS.map((h): TokenEntry => ({ token: tokens.hosts[h]!, role: 'host', name: h, hostId: h })),
  ];
  await fs.writeFile(file, JSON.stringify(entries, null, 2), { mode: 0o600 });
  // A file made earlier with a wider mode keeps it through writeFile: narrow it every time.
  await fs.chmod(file, 0o600);
  return tokens;
}

function prefixLines(stream: NodeJS.ReadableStream | null, prefix: string): void {
  if (!stream) return;
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  rl.on('line', (line) => process.stderr.write(`${prefix} ${line}\n`));
}

function spawnPart(name: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env,
    // The IPC channel closes if this process dies, and the child then stops itself.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const prefix = `[${name}]`.padEnd(11);
  prefixLines(child.stdout, prefix);
  prefixLines(child.stderr, prefix);
  return child;
}

async function stopChild(p: ChildProcess, ended: Promise<unknown>, timeoutMs: number): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  if (await Promise.race([ended.then(() => true), sleep(timeoutMs).then(() => false)])) return;
  p.kill('SIGKILL');
  await ended;
}

/** A `testbay …` child process as a supervised part; `ready` says when a start counts. */
function processPart(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stopTimeoutMs: number,
  ready?: (ended: Promise<ProcessEnd>) => Promise<void>,
): Part {
  return {
    name,
    start: async () => {
      const child = spawnPart(name, args, env);
      const ended = endOf(child);
      const stop = () => stopChild(child, ended, stopTimeoutMs);
      try {
        await ready?.(ended);
      } catch (err) {
        await stop();
        throw err;
      }
      return { pid: child.pid, ended, stop };
    },
  };
}

/** Thrown out of start-up when a signal asked the lab to stop. */
class StopRequested extends Error {}

/** Resolves once the API answers; throws when its process ended first or it stays silent. */
async function apiAnswers(
  url: string,
  ended: Promise<ProcessEnd>,
  stopped: () => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  let end: ProcessEnd | undefined;
  void ended.then((e) => (end = e));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopped()) throw new StopRequested();
    if (end) throw new Error(`the API process ended (${describeEnd(end)}) before it answered on ${url}`);
    try {
      if ((await fetch(`${url}/api/v1/health`)).ok) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`the API did not answer on ${url} within ${timeoutMs / 1000} s`);
}

/** Waits until the scheduler lists every local host as registered and online. */
async function waitForHosts(
  url: string,
  token: string,
  supervisor: Supervisor,
  stopped: () => boolean,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  while (Date.now() < deadline) {
    if (stopped()) throw new StopRequested();
    const dead = supervisor.endedDuringStartUp();
    if (dead) throw new Error(`${dead.name} ended (${dead.how}) while the lab started`);
    try {
      const res = await fetch(`${url}/api/v1/hosts`, { headers: { authorization: `Bearer ${token}` } });
      if (res.ok) {
        const lab = (await res.json()) as { hosts: { id: string; online: boolean }[] };
        const online = lab.hosts.filter((h) => h.online).map((h) => h.id);
        seen = online.join(', ');
        if (LOCAL_HOSTS.every((h) => online.includes(h))) return;
      } else {
        await res.body?.cancel();
      }
    } catch {
      // the scheduler is not up yet
    }
    await sleep(250);
  }
  throw new Error(
    `the scheduler did not list ${LOCAL_HOSTS.join(', ')} within ${timeoutMs / 1000} s (online: ${seen || 'none'})`,
  );
}

export async function runDev(config: Config, log: Logger): Promise<number> {
  // Signals first: one during start-up must stop whatever has started, not kill this
  // process and leave a Temporal server and half a lab behind.
  let signal: NodeJS.Signals | undefined;
  let onSignal: () => void = () => undefined;
  const signalled = new Promise<void>((resolve) => (onSignal = resolve));
  const handler = (sig: NodeJS.Signals) => {
    if (signal) {
      log.warn(`${sig} again: already stopping the lab`);
      return;
    }
    signal = sig;
    log.info(`${sig}: stopping the lab`);
    onSignal();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  const stopped = () => signal !== undefined;

  const supervisor = new Supervisor(log, restartPolicyFromEnv(process.env));
  let stopping = false;
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    supervisor.stopRestarting();
    log.info('stopping the lab');
    const names = supervisor.names();
    // Hosts first: they stop their runners and release their leases. Temporal last.
    await supervisor.stop(names.filter(isHost));
    await supervisor.stop(names.filter((n) => !isHost(n) && n !== 'temporal'));
    await supervisor.stop(['temporal']);
  };
  /** Runs one start-up step; a signal that came meanwhile ends start-up. */
  const step = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (stopped()) throw new StopRequested();
    const value = await fn();
    if (stopped()) throw new StopRequested();
    return value;
  };
  try {
    // Everything the lab writes is its user's alone: the data dir, the Temporal db, the
    // result store, tokens and keys (runners run as another user: see the host's runnerUser).
    process.umask(0o077);
    await fs.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    await fs.chmod(config.dataDir, 0o700);
    const tokens = await labTokens(config);
    // The key the API seals secrets and upload tokens with, and the hosts open them with.
    loadPayloadKey({ file: config.payloadKeyFile, create: true });
    const dbFile = path.join(config.dataDir, 'temporal.db');
    // A db (or its WAL) from a lab started before this rule had the default mode.
    for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) await fs.chmod(f, 0o600).catch(() => undefined);
    // Runners as an unprivileged user (as root): the data dir becomes traversable (0711) for
    // it to reach its job dirs, all else in it stays private. Tokens in files, not environments.
    const runners = await embeddedRunners(
      config.dataDir,
      path.join(PROJECT_ROOT, 'examples', 'runner'),
      config.host.runnerUser,
    );
    if (runners.warning) log.warn(runners.warning);
    const secrets = path.join(config.dataDir, 'secrets');
    await fs.mkdir(secrets, { recursive: true, mode: 0o700 });
    await fs.chmod(secrets, 0o700);
    const tokenFile = async (name: string, token: string) => {
      const file = path.join(secrets, `${name}.token`);
      await writeTokenFile(file, token);
      return file;
    };
    const bin = findTemporalBinary();
    log.info('starting Temporal dev server', { bin, port: config.temporal.port, ui: config.temporal.uiPort });
    const address = `127.0.0.1:${config.temporal.port}`;
    await step(() =>
      supervisor.add({
        name: 'temporal',
        // A restart reuses the db file and the ports: the lab's workflows, namespace and
        // search attributes are in the file, and every part reconnects to the same address.
        start: async () => {
          const server = await startDevServer({
            bin,
            port: config.temporal.port,
            uiPort: config.temporal.uiPort,
            dbFile,
            logFile: path.join(config.dataDir, 'temporal.log'),
          });
          return { pid: server.process.pid, ended: endOf(server.process), stop: () => server.stop() };
        },
      }),
    );
    await step(async () => {
      const connection = await Connection.connect({ address });
      await ensureNamespace(connection, config.temporal.namespace, { create: true, retentionHours: 720 });
      await connection.close();
    });

    const { TESTBAY_HOST_TOKEN: _h, TESTBAY_CONTROL_TOKEN: _c, ...inherited } = process.env;
    const base: NodeJS.ProcessEnv = {
      ...inherited,
      TESTBAY_DATA_DIR: config.dataDir,
      TESTBAY_PORT: String(config.api.port),
      TESTBAY_URL: config.api.url,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: config.temporal.namespace,
      // A host that broke comes back by itself once this passes on it (the example runner boots).
      TESTBAY_HEALTH_CHECKS: process.env.TESTBAY_HEALTH_CHECKS ?? JSON.stringify(EMBEDDED_HEALTH_CHECKS),
      // A developer's Ctrl-C should not wait minutes for a running job.
      TESTBAY_SHUTDOWN_DEADLINE_MS: process.env.TESTBAY_SHUTDOWN_DEADLINE_MS ?? '3000',
      TESTBAY_KILL_GRACE_MS: process.env.TESTBAY_KILL_GRACE_MS ?? '3000',
    };
    // The API comes back on the same port, where hosts, the control worker and the CLI
    // look for it; a start of it counts once it answers.
    await step(() =>
      supervisor.add(
        processPart('api', ['server'], base, 10_000, (ended) => apiAnswers(config.api.url, ended, stopped)),
      ),
    );
    // The control worker makes sure the scheduler runs each time it starts.
    const controlMetricsPort = process.env.TESTBAY_CONTROL_METRICS_PORT ?? String(DEFAULT_PORTS.controlMetrics);
    const controlToken = await tokenFile('control', tokens.control);
    await step(() =>
      supervisor.add(
        processPart(
          'control',
          ['control'],
          { ...base, TESTBAY_CONTROL_TOKEN_FILE: controlToken, TESTBAY_CONTROL_METRICS_PORT: controlMetricsPort },
          10_000,
        ),
      ),
    );
    for (const hostId of LOCAL_HOSTS) {
      // A host registers again each time it starts, with a fresh instance id.
      const args = [
        'host',
        '--id',
        hostId,
        '--class',
        'local',
        '--work-dir',
        path.join(config.dataDir, 'hosts', hostId),
        '--runner-path',
        runners.runnerPath,
      ];
      args.push('--token-file', await tokenFile(`host-${hostId}`, tokens.hosts[hostId]!));
      if (runners.runnerUser !== undefined) args.push('--runner-user', runners.runnerUser);
      await step(() => supervisor.add(processPart(hostId, args, base, 20_000)));
    }
    const info: LabInfo = {
      url: config.api.url,
      temporalUrl: config.temporal.webUrl,
      tokens: { submit: tokens.submit, operate: tokens.operate },
    };
    await fs.writeFile(labFile(config.dataDir), JSON.stringify(info, null, 2), { mode: 0o600 });
    await fs.chmod(labFile(config.dataDir), 0o600);
    // "Up" means a submission can run: the control worker and scheduler answer, and every host registered.
    await waitForHosts(config.api.url, tokens.operate, supervisor, stopped);
    supervisor.superviseFromNow();
    const loginCode = await newLoginCode(loginCodeFile(config.dataDir), 'operator');

    process.stdout.write(
      [
        '',
        'Testbay embedded lab is up',
        `  dashboard           ${config.api.url}/api/v1/login?code=${loginCode}  (a one-time link, valid 15 minutes)`,
        `  API                 ${config.api.url}/api/v1  (docs ${config.api.url}/api/v1/docs, metrics ${config.api.url}/metrics)`,
        `  Temporal Web UI     ${config.temporal.webUrl}  (namespace ${config.temporal.namespace})`,
        `  Temporal gRPC       ${address}`,
        `  control metrics     http://127.0.0.1:${controlMetricsPort}/metrics  (workflow task failures)`,
        `  hosts               ${LOCAL_HOSTS.join(', ')} (worker class "local")`,
        `  processes           ${supervisor
          .status()
          .map((p) => `${p.name} ${p.pid ?? '-'}`)
          .join(', ')}  (each restarted if it fails)`,
        `  data dir            ${config.dataDir}`,
        `  submit token        ${tokens.submit}`,
        `  operator token      in ${labFile(config.dataDir)} (not printed; the CLI finds both tokens there)`,
        '',
        '  try:  npx testbay submit examples/hello.yaml --watch',
        '  stop: Ctrl-C',
        '',
      ].join('\n'),
    );

    // Only a signal stops the lab: a part that fails is restarted, or left down, by the supervisor.
    await signalled;
    await stopAll();
    return 0;
  } catch (err) {
    await stopAll();
    if (err instanceof StopRequested) {
      log.info(`stopped during start-up (${signal ?? 'signal'})`);
      return 0;
    }
    throw err;
  } finally {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}
