/**
 * @module RunnerSession: the lifecycle every process a host starts for a job goes through,
 * written once for job runs, batch runs and test listing. It opens the job's log (capped at
 * the host's limit, secrets masked, uploaded from its offset by LogSync) and progress file,
 * spawns the runner as its own process group (as the runner user, with the env the caller
 * built), records it for the guard and the reaper, and while it runs keeps the heartbeat,
 * the upload ticks (one at a time: a slow API skips ticks, they do not pile up), the
 * timers, the cancel listener and the host's shutdown deadline. The first stop reason wins
 * and stops the whole group. Once the runner exited, whatever it left in its group is
 * stopped and every timer and listener is dropped; `forget` sweeps what escaped the group
 * and drops the records. What the runner's exit means stays the activity's.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { timerMs } from '../../domain/batch-work.js';
import { CappedLog } from './capped-log.js';
import type { HostDeps } from './deps.js';
import { LogSync } from './log-sync.js';
import { spawnGroup, stopGroup, type Exit, type RunnerProcess } from './process-group.js';
import { ProgressFile, readProgressStream, type ProgressLine } from './progress.js';
import { forgetRunner, rememberRunner } from './reaper.js';
import { asUser } from './runner-user.js';
import { secretMask } from './secret-mask.js';

export { isLeaseRevoked } from './log-sync.js';

/** Why the host stopped a runner, in the activity's own words. */
export interface StopReason {
  why: string;
  reason: string;
}

/** The job's log and status lines, for a runner whose output is the job's log. */
export interface SessionLog {
  /** holds runner.log and progress.jsonl */
  jobDir: string;
  leaseToken: string;
  secrets?: Record<string, string> | undefined;
  onLine: (line: ProgressLine) => void;
}

export interface SessionSetup {
  /** the job's, batch's or listing's id: the runner's marker and the reaper's record */
  id: string;
  /** how the host's log names the runner ('runner', 'batch runner') */
  label: string;
  /** the fields the host's log names the runner's job by (`{ job: id }`) */
  logFields: Record<string, string>;
  /** without it, the caller takes the runner's output itself (spawn's `output`) */
  log?: SessionLog;
}

const files = (jobDir: string) => ({
  log: path.join(jobDir, 'runner.log'),
  progress: path.join(jobDir, 'progress.jsonl'),
});

export class RunnerSession<Stop extends StopReason = StopReason> {
  /** the job's log as uploaded; undefined without a SessionLog */
  readonly log: CappedLog | undefined;
  readonly sync: LogSync | undefined;
  readonly progressFile: ProgressFile | undefined;
  /** the first reason the host stopped the runner for */
  stopped: Stop | undefined;
  /** when the runner last wrote to stdout or stderr (or was spawned) */
  lastOutputAt = 0;
  private readonly masked: { stream: NodeJS.WritableStream; flush(): Promise<void> } | undefined;
  private runner: RunnerProcess | undefined;
  private readonly intervals: NodeJS.Timeout[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly cleanups: (() => void)[] = [];
  private readonly uploads = new Set<Promise<void>>();
  private beat: NodeJS.Timeout | undefined;

  private constructor(
    private readonly deps: HostDeps,
    private readonly setup: SessionSetup,
    log?: { log: CappedLog; sync: LogSync; progressFile: ProgressFile },
  ) {
    this.log = log?.log;
    this.sync = log?.sync;
    this.progressFile = log?.progressFile;
    // The runner's output reaches the log with its secrets masked.
    this.masked = log ? secretMask(log.log, setup.log?.secrets) : undefined;
  }

  /** Opens the job's log and progress file (when the setup has a log); nothing runs yet. */
  static async open<S extends StopReason>(deps: HostDeps, setup: SessionSetup): Promise<RunnerSession<S>> {
    if (!setup.log) return new RunnerSession<S>(deps, setup);
    const { jobDir, leaseToken, onLine } = setup.log;
    const file = files(jobDir);
    const log = await CappedLog.open(file.log, deps.maxLogBytes);
    const sync = new LogSync(deps.api, setup.id, leaseToken, file.log);
    const progressFile = new ProgressFile(file.progress, onLine);
    await progressFile.start(deps.runnerUser);
    return new RunnerSession<S>(deps, setup, { log, sync, progressFile });
  }

  /** The runner never started (a chain's turn said no): closes what open opened. */
  async discard(): Promise<void> {
    await this.progressFile?.close();
    await this.log?.close();
  }

  /**
   * Starts the command (argv, as the runner user) as its own process group and records it.
   * Returns the error when it could not start; with a log, that is written to it and uploaded.
   */
  async spawn(
    command: readonly string[],
    options: { cwd: string; env: NodeJS.ProcessEnv; output?: NodeJS.WritableStream; errors?: NodeJS.WritableStream },
  ): Promise<NodeJS.ErrnoException | undefined> {
    const onLine = this.setup.log?.onLine;
    try {
      this.runner = await spawnGroup(command, {
        cwd: options.cwd,
        env: options.env,
        ...asUser(this.deps.runnerUser),
        ...(this.masked ? { output: this.masked.stream } : options.output ? { output: options.output } : {}),
        ...(options.errors ? { errors: options.errors } : {}),
        ...(onLine ? { onProgress: (stream: Readable) => void readProgressStream(stream, onLine) } : {}),
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (this.log) {
        await this.log.close(`testbay: could not start ${JSON.stringify(command[0])}: ${e.message}\n`);
        await this.progressFile?.close();
        await this.sync?.sync().catch(() => undefined);
      }
      return e;
    }
    // Read before the secret mask, which may hold the last bytes back: the output watchdog's clock.
    this.lastOutputAt = Date.now();
    for (const stream of [this.runner.child.stdout, this.runner.child.stderr])
      stream?.on('data', () => (this.lastOutputAt = Date.now()));
    // Recorded: the guard and the reaper stop it if this host dies.
    await rememberRunner(this.deps.workDir, this.setup.id, this.runner, this.deps.killGraceMs);
    return undefined;
  }

  private get process(): RunnerProcess {
    if (!this.runner) throw new Error(`${this.setup.label} of ${this.setup.id} is not running`);
    return this.runner;
  }

  /** Stops the runner's whole group for this reason, unless it was stopped for another already. */
  stop(why: Stop): void {
    if (this.stopped) return;
    this.stopped = why;
    this.deps.log.info(`stopping ${this.setup.label}`, { ...this.setup.logFields, why: why.why, reason: why.reason });
    this.kill();
  }

  /** Stops the runner's whole group without a stop reason (the activity keeps its own). */
  kill(): void {
    // A reason that comes before the spawn (a stale status line) is kept; there is no group yet.
    if (this.runner) void stopGroup(this.runner.pid, this.deps.killGraceMs);
  }

  /** Calls `fn` every second until `close`: the heartbeat goes on through the final uploads. */
  heartbeat(fn: () => void): void {
    this.beat ??= setInterval(fn, 1_000);
  }

  /** Calls `fn` every `ms` while the runner runs. */
  every(ms: number, fn: () => void): void {
    this.intervals.push(setInterval(fn, ms));
  }

  /** Calls `fn` once after `ms`, unless the runner ended first. */
  after(ms: number, fn: () => void): void {
    this.timers.push(setTimeout(fn, ms));
  }

  /** Runs `tick` every logFlushMs while the runner runs, one at a time: while the API is slow, ticks are skipped, not piled up. */
  upload(tick: () => Promise<void>): void {
    let running: Promise<void> | undefined;
    this.every(this.deps.logFlushMs, () => {
      if (running) return;
      const pass = tick().finally(() => {
        running = undefined;
        this.uploads.delete(pass);
      });
      running = pass;
      this.uploads.add(pass);
    });
  }

  /** Waits for the upload ticks still going. */
  async settled(): Promise<void> {
    await Promise.all([...this.uploads]);
  }

  /** Calls `fn` when Temporal cancels the activity (a cancel, a timeout, a worker shutdown). */
  onCancel(fn: () => void): void {
    const signal = Context.current().cancellationSignal;
    signal.addEventListener('abort', fn);
    this.cleanups.push(() => signal.removeEventListener('abort', fn));
  }

  /** When the host begins to shut down, the runner may go on for the shutdown deadline; then it is stopped for `why`. */
  stopAtShutdown(why: Stop): void {
    const onShutdown = () => {
      const deadline = setTimeout(() => this.stop(why), timerMs(this.deps.shutdownDeadlineMs));
      void this.process.exited.then(() => clearTimeout(deadline));
    };
    if (this.deps.shutdown.aborted) onShutdown();
    else this.deps.shutdown.addEventListener('abort', onShutdown, { once: true });
    this.cleanups.push(() => this.deps.shutdown.removeEventListener('abort', onShutdown));
  }

  /**
   * Waits for the runner's exit; then stops whatever it left in its group (background
   * children), waits a little for its output to end, and drops the timers and listeners.
   */
  async wait(): Promise<Exit> {
    const runner = this.process;
    try {
      const exit = await runner.exited;
      await stopGroup(runner.pid, Math.min(this.deps.killGraceMs, 2_000));
      await Promise.race([runner.closed, sleep(2_000)]);
      return exit;
    } finally {
      for (const interval of this.intervals) clearInterval(interval);
      for (const timer of this.timers) clearTimeout(timer);
      for (const cleanup of this.cleanups) cleanup();
      await this.progressFile?.close();
    }
  }

  /** Writes what the secret mask holds back, then closes the log (with a last line of the host's, if given). */
  async closeLog(lastLine?: string): Promise<void> {
    await this.masked?.flush();
    await this.log?.close(lastLine);
  }

  /** Stops what escaped the runner's group (found by its marker) and drops the guard's and reaper's records. */
  async forget(): Promise<void> {
    await forgetRunner(
      this.deps.workDir,
      this.setup.id,
      this.process,
      Math.min(this.deps.killGraceMs, 2_000),
      this.deps.log,
    );
  }

  /** Ends the heartbeat. */
  close(): void {
    clearInterval(this.beat);
  }
}
