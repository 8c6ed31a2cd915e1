/**
 * The real `testbay dev` as a child process with its own data dir and free ports, and what
 * a test or a benchmark does to it: find a part's process, kill it and wait for the
 * supervisor to bring it back, submit a job and wait until it runs or ends.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApiUnreachable, TestbayClient } from '../../src/api/client.js';
import type { LabInfo } from '../../src/cli/lab-target.js';
import type { SubmissionView } from '../../src/domain/views.js';
import { cli, type CliResult } from './cli.js';
import { waitFor } from './lab.js';
import { freePort } from './ports.js';
import { processesMentioning, processesUsing } from './processes.js';
import { watchControlMetrics } from './task-failure-guard.js';

/** What each part's process looks like in /proc (all of them mention the lab's data dir). */
const PARTS: Record<string, RegExp> = {
  temporal: /server start-dev /,
  api: /testbay\.js server$/,
  control: /testbay\.js control$/,
  'local-1': /testbay\.js host --id local-1 /,
  'local-2': /testbay\.js host --id local-2 /,
  'local-3': /testbay\.js host --id local-3 /,
};

/** A data dir and free ports for one `testbay dev`; the caller removes the dir. */
export async function devEnv(prefix = 'testbay-dev-'): Promise<{ dataDir: string; env: Record<string, string> }> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  const env = {
    TESTBAY_DATA_DIR: dataDir,
    TESTBAY_PORT: String(await freePort()),
    TESTBAY_TEMPORAL_PORT: String(await freePort()),
    TESTBAY_TEMPORAL_UI_PORT: String(await freePort()),
    TESTBAY_CONTROL_METRICS_PORT: String(await freePort()),
  };
  // The suite's guard sees the workflow tasks that fail in this lab's control worker too.
  watchControlMetrics(
    `the control worker of testbay dev in ${dataDir}`,
    `http://127.0.0.1:${env.TESTBAY_CONTROL_METRICS_PORT}/metrics`,
  );
  return { dataDir, env };
}

/** A one-job submission on the example runner that takes `modules` × `moduleMs`, re-scheduled once if it aborts. */
export function timedJob(name: string, moduleMs = 1_000, modules = 'boot,install,login,shutdown') {
  return {
    name,
    jobs: [
      {
        name,
        workerClass: 'local',
        maxRetries: 1,
        runner: { command: ['os-test'] },
        settings: { MODULES: modules, MODULE_MS: String(moduleMs), SCREENSHOTS: '0' },
        timeoutMs: 120_000,
      },
    ],
  };
}

export class DevLab {
  output = '';
  errors = '';
  api!: TestbayClient;
  operator!: TestbayClient;
  info!: LabInfo;

  private constructor(
    readonly dataDir: string,
    readonly env: Record<string, string>,
    readonly run: ReturnType<typeof cli>,
  ) {
    run.child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    run.child.stderr?.on('data', (d: Buffer) => (this.errors += d.toString()));
  }

  /** Starts `testbay dev` with these variables over fresh ports and data dir, and waits until it says it is up. */
  static async start(
    env: Record<string, string>,
    options: { prefix?: string; timeoutMs?: number } = {},
  ): Promise<DevLab> {
    const fresh = await devEnv(options.prefix);
    const all = { ...env, ...fresh.env };
    const lab = new DevLab(fresh.dataDir, all, cli(['dev'], all, { timeoutMs: options.timeoutMs ?? 300_000 }));
    try {
      await waitFor(
        'the lab to be up',
        () => lab.output.includes('Testbay embedded lab is up') || lab.run.child.exitCode !== null,
        120_000,
      );
      if (!lab.output.includes('Testbay embedded lab is up'))
        throw new Error(`testbay dev ended before it was up:\n${lab.errors.slice(-3000)}`);
      lab.info = JSON.parse(await fs.readFile(path.join(lab.dataDir, 'lab.json'), 'utf8')) as LabInfo;
      lab.api = new TestbayClient(lab.info.url, lab.info.tokens.submit);
      lab.operator = new TestbayClient(lab.info.url, lab.info.tokens.operate);
      return lab;
    } catch (err) {
      await lab.stop().catch(() => undefined);
      throw err;
    }
  }

  /** The supervisor's own log lines (a part's lines start with its [name]). */
  supervisorLines(): string[] {
    return this.errors.split('\n').filter((l) => / dev: /.test(l) && !l.startsWith('['));
  }

  /** How many lines the part logged that contain the text. */
  linesOf(part: string, text: string): number {
    return this.errors.split('\n').filter((l) => l.startsWith(`[${part}]`) && l.includes(text)).length;
  }

  pidOf(part: string): number | undefined {
    return processesMentioning(this.dataDir).find((p) => PARTS[part]!.test(p.cmdline))?.pid;
  }

  /** Kills the part with SIGKILL; resolves with the kill's time once the supervisor says it runs again. */
  async kill(part: string): Promise<{ killedAt: number; runningAgainAt: number }> {
    const pid = this.pidOf(part);
    if (pid === undefined) throw new Error(`no process of ${part}: ${processesUsing(this.dataDir).join('\n')}`);
    const again = () => this.supervisorLines().filter((l) => l.includes(`${part} is running again`)).length;
    const before = again();
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitFor(`${part} to run again`, () => again() > before, 60_000, 20);
    return { killedAt, runningAgainAt: Date.now() };
  }

  /** Calls the API; unreachable (it may be restarting) is undefined. */
  async tolerant<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiUnreachable) return undefined;
      throw err;
    }
  }

  /** Submits a one-job submission and waits until its runner is in its first module. */
  async startJob(spec: ReturnType<typeof timedJob>): Promise<{ id: string; hostId: string }> {
    const { id } = await this.api.submit(spec);
    const running = await waitFor(
      `${spec.name} to run`,
      async () => {
        const j = (await this.api.submission(id)).jobs[0];
        return j?.state === 'running' && j.progress?.module !== undefined && j.hostId !== undefined ? j : undefined;
      },
      60_000,
      100,
    );
    return { id, hostId: running.hostId! };
  }

  ended(id: string, timeoutMs = 120_000): Promise<SubmissionView> {
    return waitFor(
      `submission ${id} to end`,
      async () => {
        const view = await this.tolerant(() => this.api.submission(id));
        return view?.state === 'done' ? view : undefined;
      },
      timeoutMs,
      250,
    );
  }

  /** The ids of the hosts the scheduler lists online, sorted. */
  async online(): Promise<string[]> {
    return ((await this.tolerant(() => this.operator.hosts()))?.hosts ?? [])
      .filter((h) => h.online)
      .map((h) => h.id)
      .sort();
  }

  /** The instance id the scheduler has for an online host (each start of a host registers a fresh one). */
  async onlineInstance(hostId: string): Promise<string | undefined> {
    const host = (await this.tolerant(() => this.operator.hosts()))?.hosts.find((h) => h.id === hostId);
    return host?.online ? host.instanceId : undefined;
  }

  /** Resolves once the host is online under an instance other than `before`: its new process registered. */
  async registeredAgain(hostId: string, before: string | undefined, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `${hostId} to register again`,
      async () => {
        const now = await this.onlineInstance(hostId);
        return now !== undefined && now !== before;
      },
      timeoutMs,
      100,
    );
  }

  /** Ctrl-C (or `signal`): resolves with how `testbay dev` ended. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<CliResult> {
    if (this.run.child.exitCode === null && this.run.child.signalCode === null) this.run.child.kill(signal);
    return this.run;
  }
}
