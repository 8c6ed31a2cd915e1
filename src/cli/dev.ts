/**
 * @module `testbay dev` (what `npm start` runs): the embedded lab on one machine. It
 * starts a Temporal dev server persisted under the data dir (with its Web UI), prepares
 * the namespace, then the API, the control worker and three local hosts as child
 * processes, waits until the scheduler lists every host, prints the URLs and a token,
 * and stays in the foreground. SIGINT/SIGTERM — also one during start-up — stops every
 * child (hosts first, so their runners are stopped), nothing left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { newToken, type TokenEntry } from '../api/auth.js';
import { labFile, tokensFile, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { findTemporalBinary, PROJECT_ROOT } from '../temporal/binary.js';
import { startDevServer, type DevServer } from '../temporal/dev-server.js';
import { ensureNamespace } from '../temporal/namespace.js';
import { writeTokenFile } from '../workers/token-source.js';
import type { LabInfo } from './lab-target.js';
import { embeddedRunners } from './runner-account.js';

export const LOCAL_HOSTS = ['local-1', 'local-2', 'local-3'] as const;
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
  const find = (role: TokenEntry['role'], hostId?: string) => existing?.find((e) => e.role === role && e.hostId === hostId)?.token;
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
  return tokens;
}

function prefixLines(stream: NodeJS.ReadableStream | null, prefix: string): void {
  if (!stream) return;
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  rl.on('line', (line) => process.stderr.write(`${prefix} ${line}\n`));
}

interface Child {
  name: string;
  process: ChildProcess;
}

function spawnPart(name: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, [BIN, ...args], {
    env,
    // The IPC channel closes if this process dies, and the child then stops itself.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const prefix = `[${name}]`.padEnd(11);
  prefixLines(child.stdout, prefix);
  prefixLines(child.stderr, prefix);
  return { name, process: child };
}

async function stopChild(c: Child, timeoutMs: number): Promise<void> {
  const p = c.process;
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  p.kill('SIGTERM');
  if (await Promise.race([gone.then(() => true), sleep(timeoutMs).then(() => false)])) return;
  p.kill('SIGKILL');
  await gone;
}

/** Thrown out of start-up when a signal asked the lab to stop. */
class StopRequested extends Error {}

async function waitForApi(url: string, child: Child, stopped: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopped()) throw new StopRequested();
    if (child.process.exitCode !== null) throw new Error(`the API process exited with code ${child.process.exitCode}`);
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
async function waitForHosts(url: string, token: string, children: Child[], stopped: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  while (Date.now() < deadline) {
    if (stopped()) throw new StopRequested();
    const dead = children.find((c) => c.process.exitCode !== null || c.process.signalCode !== null);
    if (dead) throw new Error(`${dead.name} exited with ${dead.process.signalCode ?? dead.process.exitCode} while the lab started`);
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
  throw new Error(`the scheduler did not list ${LOCAL_HOSTS.join(', ')} within ${timeoutMs / 1000} s (online: ${seen || 'none'})`);
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

  const children: Child[] = [];
  let temporal: DevServer | undefined;
  let stopping = false;
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    log.info('stopping the lab');
    // Hosts first: they stop their runners and release their leases.
    await Promise.all(children.filter((c) => c.name.startsWith('local-')).map((c) => stopChild(c, 20_000)));
    await Promise.all(children.filter((c) => !c.name.startsWith('local-')).map((c) => stopChild(c, 10_000)));
    await temporal?.stop();
  };
  /** Runs one start-up step; a signal that came meanwhile ends start-up. */
  const step = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (stopped()) throw new StopRequested();
    const value = await fn();
    if (stopped()) throw new StopRequested();
    return value;
  };
  try {
    await fs.mkdir(config.dataDir, { recursive: true });
    const tokens = await labTokens(config);
    // Runners as an unprivileged user (as root); tokens in files only the lab's user reads.
    const runners = await embeddedRunners(config.dataDir, path.join(PROJECT_ROOT, 'examples', 'runner'), config.host.runnerUser);
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
    temporal = await step(() =>
      startDevServer({
        bin,
        port: config.temporal.port,
        uiPort: config.temporal.uiPort,
        dbFile: path.join(config.dataDir, 'temporal.db'),
        logFile: path.join(config.dataDir, 'temporal.log'),
      }),
    );
    const address = temporal.address;
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
      // A developer's Ctrl-C should not wait minutes for a running job.
      TESTBAY_SHUTDOWN_DEADLINE_MS: process.env.TESTBAY_SHUTDOWN_DEADLINE_MS ?? '3000',
      TESTBAY_KILL_GRACE_MS: process.env.TESTBAY_KILL_GRACE_MS ?? '3000',
    };
    const api = spawnPart('api', ['server'], base);
    children.push(api);
    await waitForApi(config.api.url, api, stopped);
    children.push(spawnPart('control', ['control'], { ...base, TESTBAY_CONTROL_TOKEN_FILE: await tokenFile('control', tokens.control) }));
    for (const hostId of LOCAL_HOSTS) {
      const args = ['host', '--id', hostId, '--class', 'local', '--work-dir', path.join(config.dataDir, 'hosts', hostId), '--runner-path', runners.runnerPath];
      args.push('--token-file', await tokenFile(`host-${hostId}`, tokens.hosts[hostId]!));
      if (runners.runnerUser !== undefined) args.push('--runner-user', runners.runnerUser);
      children.push(spawnPart(hostId, args, base));
    }
    const info: LabInfo = { url: config.api.url, temporalUrl: config.temporal.webUrl, tokens: { submit: tokens.submit, operate: tokens.operate } };
    await fs.writeFile(labFile(config.dataDir), JSON.stringify(info, null, 2), { mode: 0o600 });
    // "Up" means a submission can run: the control worker and scheduler answer, and every host registered.
    await waitForHosts(config.api.url, tokens.operate, children, stopped);

    process.stdout.write(
      [
        '',
        'Testbay embedded lab is up',
        `  dashboard           ${config.api.url}/?token=${tokens.operate}`,
        `  API                 ${config.api.url}/api/v1  (docs ${config.api.url}/api/v1/docs, metrics ${config.api.url}/metrics)`,
        `  Temporal Web UI     ${config.temporal.webUrl}  (namespace ${config.temporal.namespace})`,
        `  Temporal gRPC       ${address}`,
        `  hosts               ${LOCAL_HOSTS.join(', ')} (worker class "local")`,
        `  data dir            ${config.dataDir}`,
        `  submit token        ${tokens.submit}`,
        `  operator token      ${tokens.operate}   (the CLI finds both in ${labFile(config.dataDir)})`,
        '',
        '  try:  npx testbay submit examples/hello.yaml --watch',
        '  stop: Ctrl-C',
        '',
      ].join('\n'),
    );

    const exited = new Promise<Child>((resolve) => {
      for (const c of children) c.process.once('exit', () => resolve(c));
    });
    const first = await Promise.race([exited, signalled.then(() => undefined)]);
    if (first && !stopping) log.error(`${first.name} exited unexpectedly (code ${first.process.exitCode}); stopping the lab`);
    await stopAll();
    return first ? 1 : 0;
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
