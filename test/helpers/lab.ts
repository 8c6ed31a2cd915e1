/**
 * A real lab for integration tests: its own namespace on the run's Temporal dev server,
 * the API in this process on an ephemeral port, the control worker in this process
 * (with the run's workflow bundle), and hosts as real `testbay host` child processes
 * (so a test can kill -9 or SIGSTOP them). Short heartbeat and retry timeouts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
// A default import: @temporalio/proto is CommonJS, and plain Node (the benchmarks load this
// helper outside vitest) gives no named exports of it.
import protoPackage from '@temporalio/proto';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { newToken, type TokenEntry } from '../../src/api/auth.js';
import { TestbayClient, type SubmitResponse } from '../../src/api/client.js';
import { startServer, type RunningServer } from '../../src/api/server.js';
import type { ResultStore } from '../../src/api/store/result-store.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { SubmissionInput } from '../../src/domain/spec.js';
import type { SubmissionView } from '../../src/domain/views.js';
import { createLogger } from '../../src/logger.js';
import { findTemporalBinary, PROJECT_ROOT } from '../../src/temporal/binary.js';
import { closeConnection, connectDraining } from '../../src/temporal/connection.js';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server.js';
import { ensureNamespace } from '../../src/temporal/namespace.js';
import { createControlWorker, ensureScheduler } from '../../src/workers/control.js';
import { ensureSchedules, RECONCILE_SCHEDULE_ID } from '../../src/workers/schedules.js';
import { RETENTION_SCHEDULE_ID } from '../../src/domain/ids.js';
import { installSdkLogger } from '../../src/workers/sdk-logger.js';
import { PayloadKey, payloadKeyFile } from '../../src/sealing.js';
import { freePort } from './ports.js';
import { seedEmbedded, testDatabase } from './store-engines.js';
import { newFailures, unwatchTaskFailures, watchControlMetrics } from './task-failure-guard.js';
import { reapStaleRunners } from '../../src/activities/host/reaper.js';
import { writeTokenFile } from '../../src/workers/token-source.js';
import type { HostView } from '../../src/workflows/scheduler-messages.js';

export interface HostSpec {
  id: string;
  classes?: string[];
  /** the pool the host registers in (--pool); the default pool when absent */
  pool?: string;
  caps?: Record<string, string>;
  env?: Record<string, string>;
  /** extra node options for the host process (profiling: --cpu-prof) */
  nodeArgs?: string[];
  /** extra arguments to `testbay host` (`--config FILE`) */
  args?: string[];
  /** a host config file (--config): reserve hooks and the like */
  config?: string;
}

export interface LabOptions {
  name: string;
  hosts?: HostSpec[];
  env?: Record<string, string>;
  /** run the API and the control worker as their own processes, as deployed (benchmarks, faults) */
  separateProcesses?: boolean;
  /**
   * a Temporal dev server of the lab's own, persisted to a file in the lab dir, that the
   * test may kill and restart (fault injection); otherwise the run's shared server
   */
  ownTemporal?: boolean;
  /** tokens the API accepts beside the lab's own (a host token bound to a host id, say) */
  extraTokens?: TokenEntry[];
  /**
   * called with the lab dir before anything starts (a test mounts a small disk there); what
   * it returns is called when the lab has stopped, before the dir is removed
   */
  prepare?: (dir: string) => Promise<(() => Promise<void>) | void>;
  /**
   * the result store's engine: the embedded PGlite in the lab dir (default, as `npm start`),
   * or a database of its own on the run's PostgreSQL server (its objects stay in the lab dir)
   */
  engine?: 'pglite' | 'postgres';
  /** outside vitest (benchmarks): where Temporal runs, the workflow bundle, where logs go */
  temporalAddress?: string;
  workflowBundlePath?: string;
  outputDir?: string;
}

/** The run's shared parts: from the options, or from vitest's global setup. */
async function shared(
  options: LabOptions,
): Promise<{ temporalAddress: string; workflowBundlePath: string; outputDir: string }> {
  if (options.temporalAddress && options.workflowBundlePath && options.outputDir) {
    return {
      temporalAddress: options.temporalAddress,
      workflowBundlePath: options.workflowBundlePath,
      outputDir: options.outputDir,
    };
  }
  const { inject } = await import('vitest');
  return {
    temporalAddress: inject('temporalAddress'),
    workflowBundlePath: inject('workflowBundlePath'),
    outputDir: inject('testOutputDir'),
  };
}

/** Timeouts short enough for tests; the product's defaults are longer. */
export const TEST_ENV: Record<string, string> = {
  TESTBAY_HEARTBEAT_TIMEOUT_MS: '3000',
  TESTBAY_HEARTBEAT_THROTTLE_MS: '500',
  TESTBAY_HOST_PICKUP_TIMEOUT_MS: '5000',
  TESTBAY_KILL_GRACE_MS: '1000',
  TESTBAY_LOG_FLUSH_MS: '200',
  TESTBAY_SHUTDOWN_DEADLINE_MS: '2000',
  TESTBAY_LOG_LEVEL: 'info',
  TESTBAY_RECONCILE_EVERY_MS: '5000',
  // Tests and benchmarks submit in bursts from one token.
  TESTBAY_SUBMISSIONS_PER_MINUTE: '1000000',
};

export const BIN = path.join(PROJECT_ROOT, 'bin', 'testbay.js');
export const RUNNER_PATH = path.join(PROJECT_ROOT, 'examples', 'runner');

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})` : ''}`,
      );
    await sleep(everyMs);
  }
}

/** Where the SDK's log lines go: the log of the lab started last (the logger is installed once a process). */
let sdkLines: ((line: string) => void) | undefined;

export class TestLab {
  readonly hosts = new Map<string, ChildProcess>();
  private worker!: Worker;
  private workerRun!: Promise<void>;
  private server!: RunningServer;
  private nativeConnection!: NativeConnection;
  api!: TestbayClient;
  submitter!: TestbayClient;
  temporal!: Client;
  config!: Config;
  env!: Record<string, string>;
  /** the control worker's own metrics (separateProcesses) */
  controlMetricsUrl: string | undefined;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly outputDir: string,
    readonly tokens: { submit: string; operate: string; control: string; host: string },
  ) {}

  static async start(options: LabOptions): Promise<TestLab> {
    const id = `${options.name}-${Math.random().toString(36).slice(2, 8)}`;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), `testbay-${options.name}-`));
    const run = await shared(options);
    const outputDir = path.join(run.outputDir, id);
    await fs.mkdir(outputDir, { recursive: true });
    const tokens = { submit: newToken(), operate: newToken(), control: newToken(), host: newToken() };
    const lab = new TestLab(id, dir, outputDir, tokens);
    // The lab's payload key, where the API and the hosts find it (the data dir).
    await fs.writeFile(payloadKeyFile(dir), `${PayloadKey.generate().toText()}\n`, { mode: 0o600 });
    // Workers read their tokens from files, as deployed: none in a process environment.
    await fs.mkdir(path.join(dir, 'secrets'), { mode: 0o700 });
    await writeTokenFile(lab.tokenFile('host'), tokens.host);
    await writeTokenFile(lab.tokenFile('control'), tokens.control);
    const undo = await options.prepare?.(dir);
    if (undo) lab.undoPrepare = undo;
    if (options.ownTemporal) {
      lab.temporalPort = await freePort();
      lab.devServer = await lab.startTemporal();
      run.temporalAddress = lab.devServer.address;
    }
    const entries: TokenEntry[] = [
      { token: tokens.submit, role: 'submit', name: 'tester' },
      { token: tokens.operate, role: 'operate', name: 'operator' },
      { token: tokens.control, role: 'control', name: 'control' },
      { token: tokens.host, role: 'host', name: 'hosts' },
      ...(options.extraTokens ?? []),
    ];
    const namespace = `test-${id}`;
    const address = run.temporalAddress;
    const store =
      options.engine === 'postgres' ? { TESTBAY_DATABASE_URL: await testDatabase() } : (await seedEmbedded(dir), {});
    const base: Record<string, string> = {
      ...TEST_ENV,
      ...store,
      ...options.env,
      TESTBAY_DATA_DIR: dir,
      TESTBAY_TOKENS: JSON.stringify(entries),
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
    };
    const log = createLogger(id, 'info', (line) => lab.logFile.write(line));
    // The SDK's logger is installed once a process: its lines go to the newest lab's log.
    lab.sdkWriter = (line) => lab.logFile.write(line);
    sdkLines = lab.sdkWriter;
    installSdkLogger(createLogger('sdk', 'warn', (line) => sdkLines?.(line)));

    const connection = await connectDraining({ address });
    await ensureNamespace(connection, namespace, { create: true, retentionHours: 24 });
    lab.temporal = new Client({ connection, namespace });

    if (options.separateProcesses) {
      const port = await freePort();
      lab.env = {
        ...base,
        TESTBAY_PORT: String(port),
        TESTBAY_URL: `http://127.0.0.1:${port}`,
        TESTBAY_WORKFLOW_BUNDLE: run.workflowBundlePath,
      };
      lab.config = loadConfig(lab.env);
      lab.api = new TestbayClient(lab.config.api.url, tokens.operate);
      lab.submitter = new TestbayClient(lab.config.api.url, tokens.submit);
      lab.parts.push(lab.spawnPart('api', ['server'], {}));
      await waitFor('the API', async () => (await fetch(`${lab.config.api.url}/api/v1/health`)).ok, 30_000, 100);
      const metricsPort = await freePort();
      lab.controlMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      lab.parts.push(
        lab.spawnPart('control', ['control'], {
          TESTBAY_CONTROL_TOKEN_FILE: lab.tokenFile('control'),
          TESTBAY_CONTROL_METRICS_PORT: String(metricsPort),
        }),
      );
      watchControlMetrics(`the control worker of lab ${id}`, lab.controlMetricsUrl);
      await waitFor('the control worker and scheduler', () => lab.api.hosts(), 60_000, 200);
    } else {
      lab.server = await startServer(loadConfig({ ...base, TESTBAY_PORT: '0' }), log.child('api'), 0);
      lab.env = { ...base, TESTBAY_URL: lab.server.url };
      lab.config = loadConfig(lab.env);
      lab.api = new TestbayClient(lab.server.url, tokens.operate);
      lab.submitter = new TestbayClient(lab.server.url, tokens.submit);

      lab.nativeConnection = await NativeConnection.connect({ address });
      lab.worker = await createControlWorker(lab.config, log.child('control'), {
        connection: lab.nativeConnection,
        workflowBundle: { codePath: run.workflowBundlePath },
        controlToken: tokens.control,
      });
      lab.workerRun = lab.worker.run();
      await ensureScheduler(lab.temporal, lab.config);
      await ensureSchedules(lab.temporal, lab.config);
    }
    await Promise.all((options.hosts ?? [{ id: 'h1' }, { id: 'h2' }, { id: 'h3' }]).map((h) => lab.startHost(h)));
    return lab;
  }

  /** the API and control worker processes, when separate */
  private readonly parts: ChildProcess[] = [];
  private readonly partSpecs = new Map<string, { args: string[]; env: Record<string, string>; child: ChildProcess }>();

  private spawnPart(name: string, args: string[], env: Record<string, string>): ChildProcess {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...this.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = createWriteStream(path.join(this.outputDir, `${name}.log`), { flags: 'a' });
    // Two writers into one file: neither may end it (a child that dies at start-up would
    // otherwise end it under the other's last write).
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    this.partSpecs.set(name, { args, env, child });
    return child;
  }

  /**
   * Kills the API or the control worker process (separateProcesses) with `signal` and
   * starts it again after `downMs`, on the same port and data dir.
   */
  async restartPart(
    name: 'api' | 'control',
    { signal = 'SIGKILL', downMs = 0 }: { signal?: NodeJS.Signals; downMs?: number } = {},
  ): Promise<void> {
    const part = this.partSpecs.get(name);
    if (!part) throw new Error(`no ${name} process: start the lab with separateProcesses`);
    await killAndWait(part.child, signal);
    await sleep(downMs);
    const child = this.spawnPart(name, part.args, part.env);
    this.parts.splice(this.parts.indexOf(part.child), 1, child);
    if (name === 'api')
      await waitFor(
        'the API to be back',
        async () => (await fetch(`${this.config.api.url}/api/v1/health`)).ok,
        30_000,
        100,
      );
  }

  /** Sends a signal to the API or control worker process (separateProcesses): SIGSTOP freezes it. */
  signalPart(name: 'api' | 'control', signal: NodeJS.Signals): void {
    const pid = this.partSpecs.get(name)?.child.pid;
    if (!pid) throw new Error(`no ${name} process: start the lab with separateProcesses`);
    process.kill(pid, signal);
  }

  private undoPrepare: (() => Promise<void>) | undefined;
  private devServer: DevServer | undefined;
  private temporalPort = 0;

  private startTemporal(): Promise<DevServer> {
    return startDevServer({
      bin: findTemporalBinary(),
      port: this.temporalPort,
      dbFile: path.join(this.dir, 'temporal.db'),
      logFile: path.join(this.outputDir, 'temporal.log'),
      fast: true,
    });
  }

  /** Kills the lab's own Temporal dev server (ownTemporal) and starts it again on the same db file. */
  async restartTemporal({
    signal = 'SIGKILL',
    downMs = 0,
  }: { signal?: NodeJS.Signals; downMs?: number } = {}): Promise<void> {
    if (!this.devServer) throw new Error('the lab has no Temporal server of its own: start it with ownTemporal');
    await killAndWait(this.devServer.process, signal);
    await sleep(downMs);
    this.devServer = await this.startTemporal();
  }

  private _logFile: ReturnType<typeof createWriteStream> | undefined;
  private sdkWriter: ((line: string) => void) | undefined;
  get logFile() {
    this._logFile ??= createWriteStream(path.join(this.outputDir, 'lab.log'), { flags: 'a' });
    return this._logFile;
  }

  tokenFile(name: 'host' | 'control'): string {
    return path.join(this.dir, 'secrets', `${name}.token`);
  }

  /** The result store of the API in this process (not with separateProcesses). */
  get store(): ResultStore {
    if (!this.server) throw new Error('the API runs in a process of its own: ask it over HTTP');
    return this.server.store;
  }

  workDirOf(hostId: string): string {
    return path.join(this.dir, 'hosts', hostId);
  }

  /** Starts a `testbay host` process and waits until the scheduler has it idle (or broken). */
  async startHost(spec: HostSpec): Promise<ChildProcess> {
    const args = ['host', '--id', spec.id, '--work-dir', this.workDirOf(spec.id), '--runner-path', RUNNER_PATH];
    for (const c of spec.classes ?? ['local']) args.push('--class', c);
    if (spec.pool !== undefined) args.push('--pool', spec.pool);
    if (spec.config !== undefined) args.push('--config', spec.config);
    for (const [k, v] of Object.entries(spec.caps ?? {})) args.push('--cap', `${k}=${v}`);
    args.push(...(spec.args ?? []));
    const before = (await this.host(spec.id).catch(() => undefined))?.instanceId;
    // A host needs no other token than its own (the API's list stays with the API).
    const { TESTBAY_TOKENS: _tokens, ...env } = { ...process.env, ...this.env, ...spec.env };
    if (env.TESTBAY_HOST_TOKEN === undefined) env.TESTBAY_HOST_TOKEN_FILE ??= this.tokenFile('host');
    const child = spawn(process.execPath, [...(spec.nodeArgs ?? []), BIN, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = createWriteStream(path.join(this.outputDir, `${spec.id}.log`), { flags: 'a' });
    // Two writers into one file: neither may end it (a child that dies at start-up would
    // otherwise end it under the other's last write).
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    this.hosts.set(spec.id, child);
    await waitFor(
      `host ${spec.id} to register`,
      async () => {
        if (child.exitCode !== null)
          throw new Error(`host ${spec.id} exited with ${child.exitCode}; see ${String(out.path)}`);
        const h = await this.host(spec.id);
        return h && h.online && h.instanceId !== before ? h : undefined;
      },
      30_000,
      200,
    );
    return child;
  }

  async host(hostId: string): Promise<HostView | undefined> {
    return (await this.api.hosts()).hosts.find((h) => h.id === hostId);
  }

  /** Sends a signal to a host process (SIGKILL: the machine dies; SIGSTOP: it freezes). */
  signalHost(hostId: string, signal: NodeJS.Signals): void {
    const child = this.hosts.get(hostId);
    if (!child?.pid) throw new Error(`no host process ${hostId}`);
    process.kill(child.pid, signal);
  }

  async stopHost(hostId: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.hosts.get(hostId);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    if (signal === 'SIGSTOP') return;
    await Promise.race([gone, sleep(15_000).then(() => child.kill('SIGKILL'))]);
    await gone;
  }

  submit(spec: SubmissionInput): Promise<SubmitResponse> {
    return this.submitter.submit(spec);
  }

  async waitForSubmission(id: string, timeoutMs = 60_000): Promise<SubmissionView> {
    let last: SubmissionView | undefined;
    try {
      // Wait on the workflow's result (a long poll), not by polling the API: polling would
      // load the lab it measures.
      // The deadline's timer is cleared when the result comes: it must not keep a benchmark alive.
      const deadline = new AbortController();
      try {
        await Promise.race([
          this.workflowResult(`sub-${id}`),
          sleep(timeoutMs, undefined, { signal: deadline.signal }).then(
            () => {
              throw new Error(`timed out after ${timeoutMs} ms waiting for submission ${id} to finish`);
            },
            () => undefined, // cleared: the result came first
          ),
        ]);
      } finally {
        deadline.abort();
      }
      return await waitFor(
        `submission ${id} to be recorded`,
        async () => {
          last = await this.api.submission(id);
          return last.state === 'done' ? last : undefined;
        },
        10_000,
        100,
      );
    } catch (err) {
      last ??= await this.api.submission(id).catch(() => undefined);
      // Say where it stood: the jobs, the batch runs and the lab.
      const lab = await this.api.hosts().catch(() => undefined);
      const where = JSON.stringify({
        jobs: last?.jobs.map((j) => [j.name, j.state, j.waitingReason ?? j.result]),
        batchRuns: last?.batchRuns?.map((r) => [r.state, r.counts, r.running, r.reason]),
        hosts: lab?.hosts.map((h) => [h.id, h.state, h.lease?.label]),
        queue: lab?.queue.map((q) => [q.label, q.waitingReason]),
      });
      throw new Error(`${(err as Error).message}; last seen: ${where}`, { cause: err });
    }
  }

  /**
   * A workflow's result. The scheduler announces a health check's id (in its lab query) as
   * it asks for the check's start, so the workflow may not exist for a moment yet.
   */
  private async workflowResult(workflowId: string): Promise<unknown> {
    for (let tries = 0; ; tries++) {
      try {
        return await this.temporal.workflow.getHandle(workflowId).result();
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError) || tries >= 50) throw err;
        await sleep(100);
      }
    }
  }

  /** Cancels every submission still running and waits for them: isolates tests that hang jobs. */
  async cancelRunning(): Promise<void> {
    const { submissions } = await this.api.submissions({ state: 'running', limit: '500' });
    await Promise.all(submissions.map((s) => this.api.cancelSubmission(s.id, 'test cleanup').catch(() => undefined)));
    await Promise.all(submissions.map((s) => this.waitForSubmission(s.id)));
  }

  /** Submits, waits for the end, returns the final view. */
  async run(spec: SubmissionInput, timeoutMs = 60_000): Promise<SubmissionView> {
    const { id } = await this.submit(spec);
    return this.waitForSubmission(id, timeoutMs);
  }

  async stop(): Promise<void> {
    // What failed since the last test ended (in clean-up) is still a stuck workflow.
    const failures = await newFailures();
    const recordTo = process.env.TESTBAY_RECORD_HISTORIES;
    if (recordTo) await recordHistories(this.temporal, path.resolve(recordTo, this.name));
    // The lab's schedules would go on starting workflows nobody runs.
    await this.temporal.schedule
      .getHandle(RECONCILE_SCHEDULE_ID)
      .delete()
      .catch(() => undefined);
    await this.temporal.schedule
      .getHandle(RETENTION_SCHEDULE_ID)
      .delete()
      .catch(() => undefined);
    unwatchTaskFailures(`the control worker of lab ${this.name}`);
    // Hosts go first; a killed host leaves its runners behind (like a dead machine would):
    // whatever a test left running is reaped from the hosts' records, nothing outlives the lab.
    await Promise.all([...this.hosts.keys()].map((id) => this.stopHost(id, 'SIGKILL')));
    await Promise.all([...this.hosts.keys()].map((id) => reapStaleRunners(this.workDirOf(id), 0)));
    if (this.parts.length > 0) {
      await Promise.all(
        this.parts.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.exitCode !== null) return resolve();
              p.once('exit', () => resolve());
              p.kill('SIGTERM');
              setTimeout(() => p.kill('SIGKILL'), 10_000).unref();
            }),
        ),
      );
    } else {
      this.worker.shutdown();
      await this.workerRun;
      await this.nativeConnection.close();
      await this.server.close();
    }
    await closeConnection(this.temporal.connection);
    await this.devServer?.stop();
    await this.undoPrepare?.();
    if (sdkLines === this.sdkWriter) sdkLines = undefined;
    this._logFile?.end();
    await fs.rm(this.dir, { recursive: true, force: true });
    if (failures.length > 0)
      throw new Error(`workflow tasks failed after the last test of lab ${this.name}:\n${failures.join('\n')}`);
  }
}

/**
 * TESTBAY_RECORD_HISTORIES=dir: writes the history of every workflow run of the lab's
 * namespace (finished or still running) to `dir/<lab>/<type>--<workflow id>--<run>.json`
 * (the workflow id URI-encoded),
 * as protobufjs's plain object (enums by name, 64-bit numbers and bytes as strings), which
 * `History.fromObject` reads back exactly. (The SDK's `historyToJSON` fails in this install:
 * @temporalio/common and @temporalio/proto each bring their own protobufjs.)
 * scripts/record-histories.mjs picks the few that test/replay keeps.
 */
async function recordHistories(temporal: Client, dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for await (const wf of temporal.workflow.list()) {
    const history = await temporal.workflow
      .getHandle(wf.workflowId, wf.runId)
      .fetchHistory()
      .catch(() => undefined);
    if (!history) continue;
    // The replay needs the workflow id (a workflow may act on its own id): it is in the name.
    const file = `${wf.type}--${encodeURIComponent(wf.workflowId)}--${wf.runId.slice(0, 8)}.json`;
    const proto = protoPackage.temporal;
    const json = proto.api.history.v1.History.toObject(proto.api.history.v1.History.fromObject(history), {
      longs: String,
      enums: String,
      bytes: String,
    });
    await fs.writeFile(path.join(dir, file), JSON.stringify(json));
  }
}

async function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await gone;
}

/** A job spec for the example runner with fast modules; settings merge over the defaults. */
export function osTest(
  name: string,
  settings: Record<string, string> = {},
  extra: Record<string, unknown> = {},
): NonNullable<SubmissionInput['jobs']>[number] {
  return {
    name,
    workerClass: 'local',
    runner: { command: ['os-test'] },
    settings: { MODULES: 'boot,install,login', MODULE_MS: '150', LOG_LINES: '2', ...settings },
    timeoutMs: 60_000,
    ...extra,
  };
}
