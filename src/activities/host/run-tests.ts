/**
 * @module runTests: runs the job's runner under the runner contract. The runner is its own
 * process group; its output goes to the job's log (uploaded every tick); its progress
 * lines (fd 3) are heartbeated to Temporal and sent to the API. On cancellation, timeout,
 * a revoked lease or host shutdown the whole group is stopped. The exit is turned into a
 * result by the domain's rules; a test failure is a returned value, never a thrown error.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import type { JobRun, Progress, ProvisionResult, RunTestsResult } from '../../domain/job-run.js';
import { AbortCause, classifyRunnerExit, type RunnerExit } from '../../domain/outcome.js';
import type { HostDeps } from './deps.js';
import { readJUnitResults, summarizeTests } from './junit.js';
import { LeaseRevokedError, LogSync } from './log-sync.js';
import { spawnGroup, stopGroup, type Exit } from './process-group.js';
import { runnerEnv } from './runner-env.js';
import { forgetRunner, rememberRunner } from './reaper.js';

type StopWhy = NonNullable<RunnerExit['stoppedBy']>;

export function createRunTests(deps: HostDeps) {
  return async function runTests(input: { run: JobRun; provisioned: ProvisionResult }): Promise<RunTestsResult> {
    const { run, provisioned } = input;
    const ctx = Context.current();
    const started = Date.now();
    const logFile = path.join(path.dirname(provisioned.workDir), 'runner.log');
    const log = createWriteStream(logFile, { flags: 'a' });
    const sync = new LogSync(deps.api, run.jobId, run.leaseToken, logFile);
    let progress: Progress | undefined;
    let progressSent: Progress | undefined;
    let declaredAbort: string | undefined;
    let stoppedBy: StopWhy | undefined;

    await deps.api.reportProgress(run.jobId, run.leaseToken, { state: 'running' }).catch((err: unknown) => deps.log.warn('could not report state', { job: run.jobId, error: String(err) }));

    let runner;
    try {
      runner = await spawnGroup(run.runner.command, {
        cwd: provisioned.workDir,
        env: runnerEnv(run, provisioned, deps.runnerPath),
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      log.end(`testbay: could not start ${JSON.stringify(run.runner.command[0])}: ${e.message}\n`);
      await sync.sync().catch(() => undefined);
      const missing = e.code === 'ENOENT' || e.code === 'EACCES';
      return {
        result: {
          kind: 'aborted',
          cause: missing ? AbortCause.RunnerMissing : AbortCause.RunnerCrash,
          reason: `could not start runner \`${run.runner.command[0]}\` on host ${run.hostId}: ${e.code ?? e.message}${missing ? ' (not found or not executable on the runner PATH)' : ''}`,
        },
        exitCode: null,
        signal: null,
        durationMs: Date.now() - started,
      };
    }
    await rememberRunner(deps.workDir, run.jobId, runner.pid);
    const { child } = runner;
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });

    const stop = (why: StopWhy) => {
      if (stoppedBy) return;
      stoppedBy = why;
      deps.log.info('stopping runner', { job: run.jobId, why: why.why, reason: why.reason });
      void stopGroup(runner.pid, deps.killGraceMs);
    };

    void readProgress(child.stdio[3] as Readable | null, (line) => {
      if (line.abort !== undefined) declaredAbort = line.abort;
      const { module, percent, message } = line;
      progress = { ...(module !== undefined ? { module } : {}), ...(percent !== undefined ? { percent } : {}), ...(message !== undefined ? { message } : {}) };
      ctx.heartbeat({ progress });
    });

    const heartbeat = setInterval(() => ctx.heartbeat({ progress }), 1_000);
    const tick = async () => {
      try {
        await sync.sync();
        if (progress && progress !== progressSent) {
          progressSent = progress;
          await deps.api.reportProgress(run.jobId, run.leaseToken, { progress });
        }
      } catch (err) {
        if (err instanceof LeaseRevokedError) stop({ why: 'cancel', reason: `lease revoked: ${err.message}` });
        else deps.log.warn('upload failed; will retry', { job: run.jobId, error: String(err) });
      }
    };
    let ticking = Promise.resolve();
    const uploader = setInterval(() => {
      ticking = ticking.then(tick);
    }, deps.logFlushMs);
    const timeout = setTimeout(() => {
      const where = progress?.module ? ` in module \`${progress.module}\`` : '';
      stop({ why: 'timeout', reason: `runner exceeded timeoutMs (${Math.round(run.timeoutMs / 100) / 10} s)${where}; stopped` });
    }, run.timeoutMs);
    const onCancel = () => stop({ why: 'cancel', reason: `cancelled (${String(ctx.cancellationSignal.reason ?? 'by request')})` });
    ctx.cancellationSignal.addEventListener('abort', onCancel);
    const onShutdown = () => {
      const deadline = setTimeout(() => stop({ why: 'shutdown', reason: `host ${run.hostId} shutting down` }), deps.shutdownDeadlineMs);
      void runner.exited.then(() => clearTimeout(deadline));
    };
    if (deps.shutdown.aborted) onShutdown();
    else deps.shutdown.addEventListener('abort', onShutdown);

    let exit: Exit;
    try {
      exit = await runner.exited;
      // Whatever the runner left behind (background children) goes with it.
      await stopGroup(runner.pid, Math.min(deps.killGraceMs, 2_000));
      await Promise.race([runner.closed, sleep(2_000)]);
    } finally {
      clearInterval(heartbeat);
      clearInterval(uploader);
      clearTimeout(timeout);
      ctx.cancellationSignal.removeEventListener('abort', onCancel);
      deps.shutdown.removeEventListener('abort', onShutdown);
      await forgetRunner(deps.workDir, run.jobId);
    }
    await new Promise<void>((resolve) => log.end(resolve));
    await ticking;
    await tick();

    const cases = await readJUnitResults(provisioned.resultsDir);
    const tests = summarizeTests(cases);
    const signalWasOurs = stoppedBy !== undefined;
    const result = classifyRunnerExit({
      exitCode: exit.code,
      signal: signalWasOurs ? null : exit.signal,
      ...(stoppedBy ? { stoppedBy } : {}),
      ...(declaredAbort !== undefined ? { declaredAbort } : {}),
      ...(tests ? { tests } : {}),
    });
    await fs.writeFile(path.join(path.dirname(provisioned.workDir), 'tests.json'), JSON.stringify(cases)).catch(() => undefined);
    return {
      result,
      exitCode: exit.code,
      signal: exit.signal,
      durationMs: Date.now() - started,
      ...(tests ? { tests } : {}),
      ...(progress ? { lastProgress: progress } : {}),
    };
  };
}

interface ProgressLine extends Progress {
  abort?: string;
}

/** Reads JSON progress lines from the runner's fd 3; lines that are not JSON objects are ignored. */
async function readProgress(stream: Readable | null, onLine: (line: ProgressLine) => void): Promise<void> {
  if (!stream) return;
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  for await (const raw of lines) {
    try {
      const v = JSON.parse(raw) as Record<string, unknown>;
      if (typeof v !== 'object' || v === null) continue;
      const line: ProgressLine = {};
      if (typeof v.module === 'string') line.module = v.module.slice(0, 200);
      if (typeof v.percent === 'number' && v.percent >= 0 && v.percent <= 100) line.percent = v.percent;
      if (typeof v.message === 'string') line.message = v.message.slice(0, 1000);
      if (typeof v.abort === 'string') line.abort = v.abort.slice(0, 1000);
      onLine(line);
    } catch {
      // not a progress line
    }
  }
}
