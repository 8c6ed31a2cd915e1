/**
 * @module runTests: runs the job's runner under the runner contract. The runner is its own
 * process group; its output goes to the job's log (uploaded every tick); its status lines
 * (fd 3 or the progress file) are heartbeated to Temporal and sent to the API, finished
 * tests and new files in the results dir (screenshots) are uploaded while it runs. On
 * cancellation, timeout, a revoked lease or host shutdown the whole group is stopped. The
 * exit is turned into a result by the domain's rules; a test failure is a returned value,
 * never a thrown error.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { JobRun, Progress, ProvisionResult, RunTestsResult } from '../../domain/job-run.js';
import {
  AbortCause,
  classifyRunnerExit,
  parentDidNotPass,
  type JobResult,
  type RunnerExit,
} from '../../domain/outcome.js';
import { ArtifactSync } from './artifact-sync.js';
import type { HostDeps } from './deps.js';
import { RunGate } from './run-gate.js';
import { finalUpload } from './upload-results.js';
import { createProvision } from './provision.js';
import { ResultsTooLargeError, summarizeTests } from './junit.js';
import { fitTests } from './tests-upload.js';
import { isLeaseRevoked, RunnerSession } from './runner-session.js';
import type { ProgressLine } from './progress.js';
import { TestResults } from './test-results.js';
import type { HostSteps } from './steps.js';
import { logSecrets, runnerEnv } from './runner-env.js';
import { isSilentTooLong, noOutputReason } from '../../domain/watchdog.js';
import { formatDuration } from '../../domain/duration.js';

type StopWhy = NonNullable<RunnerExit['stoppedBy']>;
/** Upload ticks (TESTBAY_LOG_FLUSH_MS) between two reads of the job's deadline extensions. */
const DEADLINE_POLL_TICKS = 5;
/** How long the last look at the job's deadline, before a timeout stops its runner, waits for the API. */
const DEADLINE_CHECK_MS = 3_000;

/** Run this job only after that one's runner ended on this host (and, if asked, passed). */
export interface RunAfter {
  jobId: string;
  jobName: string;
  requirePass: boolean;
}

export function createRunTests(deps: HostDeps, steps: HostSteps = {}) {
  const gate = new RunGate();
  const provision = createProvision(deps, steps);
  /**
   * `provisioned` is absent when the job has nothing to provision but its dirs (no assets,
   * no test code): runTests makes them itself, which saves the chain a round trip per job.
   */
  return async function runTests(input: {
    run: JobRun;
    provisioned?: ProvisionResult;
    after?: RunAfter;
  }): Promise<RunTestsResult> {
    let result: JobResult | undefined;
    let provisioned = input.provisioned;
    try {
      provisioned ??= await provision(input.run);
      const { after } = input;
      const ran = await runTestsOnce(
        { run: input.run, provisioned },
        (r) => gate.finish(input.run.jobId, r),
        after ? () => waitTurn(input.run, after) : undefined,
      );
      result = ran.result;
      return input.provisioned ? ran : { ...ran, provisioned };
    } finally {
      gate.finish(
        input.run.jobId,
        result ?? { kind: 'aborted', cause: AbortCause.RunnerCrash, reason: 'runTests failed on the host' },
      );
      // The job's assets may be evicted from now on.
      if (provisioned) await steps.releaseAssets?.(input.run.jobId, provisioned.workDir);
    }
  };

  /**
   * Waits (heartbeating) for the previous run of the chain on this host; returns a result
   * when this job must not start (its parent did not pass, or the host is shutting down).
   */
  async function waitTurn(run: JobRun, after: RunAfter): Promise<JobResult | undefined> {
    const ctx = Context.current();
    ctx.heartbeat({ waitingFor: after.jobId });
    const beat = setInterval(() => ctx.heartbeat({ waitingFor: after.jobId }), 1_000);
    try {
      const shutdown = new Promise<'shutdown'>((resolve) => {
        if (deps.shutdown.aborted) resolve('shutdown');
        else deps.shutdown.addEventListener('abort', () => resolve('shutdown'), { once: true });
      });
      const previous = await Promise.race([gate.ended(after.jobId), ctx.cancelled, shutdown]);
      if (previous === 'shutdown')
        return {
          kind: 'aborted',
          cause: AbortCause.HostShutdown,
          reason: `host ${run.hostId} shutting down before \`${run.jobName}\` could start`,
        };
      if (after.requirePass && previous.kind !== 'passed') {
        return { kind: 'skipped', reason: parentDidNotPass(after.jobName, previous.kind) };
      }
      return undefined;
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Runs the runner. `turn` (a chain's queued run) is awaited just before the spawn, once
   * everything else is set up, so the runner starts the moment the previous one ended; it
   * returns a result when this job must not start.
   */
  async function runTestsOnce(
    input: { run: JobRun; provisioned: ProvisionResult },
    onResult: (result: JobResult) => void,
    turn?: () => Promise<JobResult | undefined>,
  ): Promise<RunTestsResult> {
    const { run, provisioned } = input;
    const ctx = Context.current();
    const started = Date.now();
    const jobDir = path.dirname(provisioned.workDir);
    const testResults = new TestResults(
      jobDir,
      provisioned.resultsDir,
      { maxBytes: deps.maxResultsBytes, maxTestcases: deps.maxTestcases },
      deps.runnerUser,
    );
    const artifacts = new ArtifactSync(deps.api, run, jobDir, steps.prepare, deps.log, deps.runnerUser);
    let progress: Progress | undefined;
    let progressSent: Progress | undefined;
    let testsSent = 0;
    let testsSentAt = 0;
    let testsSentBytes = 0;
    let declaredAbort: string | undefined;
    /** the last status line; the log's last write is the log's own */
    let lastLineAt = Date.now();

    /** the job's deadline extensions so far (domain/deadline.ts): polled from the API, or granted to the runner's own request */
    let extendedMs = 0;
    const extendTo = (totalMs: number) => {
      if (totalMs > extendedMs) deps.log.info('deadline extended', { job: run.jobId, extendedMs: totalMs });
      extendedMs = Math.max(extendedMs, totalMs);
    };
    /** The job's extensions as the API has them now; an API that does not answer within a few seconds changes nothing. */
    const latestDeadline = () =>
      Promise.race([
        deps.api.jobDeadline(run.jobId, run.leaseToken).then((d) => extendTo(d.extendedMs)),
        new Promise<void>((resolve) => setTimeout(resolve, DEADLINE_CHECK_MS).unref()),
      ]).catch(() => undefined);
    const onLine = (line: ProgressLine) => {
      lastLineAt = Date.now();
      if (line.extendMs !== undefined) {
        void deps.api.extendDeadline(run.jobId, run.leaseToken, line.extendMs).then(
          (r) => extendTo(r.extendedMs),
          (err: unknown) => deps.log.warn("the runner's extension was refused", { job: run.jobId, error: String(err) }),
        );
      }
      if (line.abort !== undefined) declaredAbort = line.abort;
      if (line.test) testResults.report(line.test);
      if (line.progress) {
        progress = line.progress;
        ctx.heartbeat({ progress });
      }
    };
    const session = await RunnerSession.open<StopWhy>(deps, {
      id: run.jobId,
      label: 'runner',
      logFields: { job: run.jobId },
      log: { jobDir, leaseToken: run.leaseToken, secrets: logSecrets(run), onLine },
    });
    const progressFile = session.progressFile!;
    const sync = session.sync!;
    const env = runnerEnv(
      run,
      { ...provisioned, progressFile: progressFile.file },
      deps.runnerPath,
      deps.runnerUser,
      process.env,
      { apiUrl: deps.api.urls.join(',') },
    );

    const held = turn ? await turn() : undefined;
    if (held) {
      await session.discard();
      return { result: held, exitCode: null, signal: null, durationMs: 0, notStarted: true };
    }

    // Not awaited: the runner should not wait for the API (uploads follow on the tick).
    void deps.api
      .reportProgress(run.jobId, run.leaseToken, { state: 'running' })
      .catch((err: unknown) => deps.log.warn('could not report state', { job: run.jobId, error: String(err) }));

    const e = await session.spawn(run.runner.command, { cwd: provisioned.workDir, env });
    if (e) {
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

    /** set when the host stopped the runner because its results passed a limit */
    let resultsStopped = false;
    const stopForResults = () => {
      if (resultsStopped || session.stopped) return;
      resultsStopped = true;
      deps.log.info('stopping runner: its results are too large', { job: run.jobId, reason: testResults.tooLarge });
      session.kill();
    };

    // Heartbeats go on until this activity returns: the final uploads of a large log or of
    // many artifacts take a while, and a silent host would be taken for a lost one.
    session.heartbeat(() => ctx.heartbeat({ progress }));
    try {
      /** failed uploads since the last one that went through: an outage is logged once */
      let failedUploads = 0;
      const uploadFailed = (err: unknown) => {
        if (isLeaseRevoked(err)) session.stop({ why: 'cancel', reason: `lease revoked: ${err.message}` });
        else if (failedUploads++ === 0)
          deps.log.warn('upload failed; will retry every tick', { job: run.jobId, error: String(err) });
      };
      const uploadWorked = () => {
        if (failedUploads > 0) deps.log.info('uploads work again', { job: run.jobId, failedTries: failedUploads });
        failedUploads = 0;
      };
      // Log, progress and per-test results: small, in order, every tick.
      session.upload(async () => {
        try {
          await progressFile.read();
          await sync.sync();
          if (progress && progress !== progressSent) {
            progressSent = progress;
            await deps.api.reportProgress(run.jobId, run.leaseToken, { progress });
          }
          await testResults.refresh();
          if (testResults.tooLarge !== undefined) return stopForResults();
          const version = testResults.version;
          // A large list goes up less often while the runner runs: a second per MiB it last took.
          if (version !== testsSent && Date.now() - testsSentAt >= (testsSentBytes / 1024 ** 2) * 1_000) {
            const fitted = await fitTests(testResults.all());
            await deps.api.putTests(run.jobId, run.leaseToken, fitted.tests);
            testsSent = version;
            testsSentAt = Date.now();
            testsSentBytes = fitted.bytes;
          }
          uploadWorked();
        } catch (err) {
          if (err instanceof ResultsTooLargeError) {
            testResults.tooLarge ??= err.message;
            return stopForResults();
          }
          uploadFailed(err);
        }
      });
      // Artifacts (screenshots) on their own: a large file must not hold up the log.
      session.upload(() => artifacts.sync({ final: false }).then(() => undefined, uploadFailed));
      // The deadline moves when the job is extended: checked often, not set once.
      const spawnedAt = Date.now();
      const pastDeadline = () => Date.now() - spawnedAt >= run.timeoutMs + extendedMs;
      let confirming = false;
      session.every(Math.min(1_000, Math.max(50, run.timeoutMs / 20)), () => {
        if (confirming || !pastDeadline()) return;
        // An extension accepted just before the deadline may not have reached the host yet:
        // the API is asked once more (briefly) before the runner is stopped.
        confirming = true;
        void latestDeadline().finally(() => {
          confirming = false;
          if (!pastDeadline()) return;
          const where = progress?.module ? ` in module \`${progress.module}\`` : '';
          const extended = extendedMs > 0 ? `, extended by ${formatDuration(extendedMs)}` : '';
          session.stop({
            why: 'timeout',
            reason: `runner exceeded timeoutMs (${Math.round(run.timeoutMs / 100) / 10} s${extended})${where}; stopped`,
          });
        });
      });
      // Extensions made through the API (testbay extend) reach the host here, every few ticks.
      let ticks = 0;
      session.upload(async () => {
        if (++ticks % DEADLINE_POLL_TICKS !== 0) return;
        await latestDeadline();
      });
      const { outputTimeoutMs } = run;
      if (outputTimeoutMs !== undefined) {
        // The clock starts at the spawn; provisioning's notes in the log do not count.
        lastLineAt = Date.now();
        session.every(Math.min(1_000, Math.max(100, outputTimeoutMs / 4)), () => {
          const lastOutputAt = Math.max(lastLineAt, session.lastOutputAt);
          if (isSilentTooLong(lastOutputAt, Date.now(), outputTimeoutMs))
            session.stop({ why: 'no-output', reason: noOutputReason(outputTimeoutMs, progress?.module) });
        });
      }
      session.onCancel(() =>
        session.stop({ why: 'cancel', reason: `cancelled (${String(ctx.cancellationSignal.reason ?? 'by request')})` }),
      );
      session.stopAtShutdown({ why: 'shutdown', reason: `host ${run.hostId} shutting down` });

      const exit = await session.wait();
      await testResults.refresh();
      const cases = testResults.all();
      const tests = testResults.tooLarge === undefined ? summarizeTests(cases) : undefined;
      const { stopped } = session;
      const signalWasOurs = stopped !== undefined || resultsStopped;
      const classified = classifyRunnerExit({
        exitCode: exit.code,
        signal: signalWasOurs ? null : exit.signal,
        ...(stopped ? { stoppedBy: stopped } : {}),
        ...(declaredAbort !== undefined ? { declaredAbort } : {}),
        ...(tests ? { tests } : {}),
      });
      // Results past the host's limits are the job's own fault (never the host's); a cancel still wins.
      const result: JobResult =
        testResults.tooLarge !== undefined && classified.kind !== 'cancelled'
          ? { kind: 'aborted', cause: AbortCause.ResultsTooLarge, reason: `results too large: ${testResults.tooLarge}` }
          : classified;
      // The verdict is known: the next job of the chain, queued on this host, may start now.
      onResult(result);

      await session.closeLog(
        testResults.tooLarge !== undefined
          ? `testbay: ${result.kind === 'aborted' ? result.reason : testResults.tooLarge}\n`
          : undefined,
      );
      await session.settled();
      await Promise.all([
        session.forget(),
        testResults.save(),
        fs.writeFile(path.join(jobDir, 'tests.json'), JSON.stringify(cases)).catch(() => undefined),
      ]);
      // The final uploads, here and now (no round trip); if they do not complete, the
      // uploadResults activity does them again, with retries.
      const uploaded = await finalUpload(deps, steps, run, provisioned, (details) => ctx.heartbeat(details)).catch(
        (err: unknown) => {
          deps.log.warn('final upload failed; uploadResults will retry', { job: run.jobId, error: String(err) });
          return undefined;
        },
      );
      return {
        result,
        exitCode: exit.code,
        signal: exit.signal,
        durationMs: Date.now() - started,
        ...(tests ? { tests } : {}),
        ...(progress ? { lastProgress: progress } : {}),
        ...(uploaded ? { uploaded } : {}),
      };
    } finally {
      session.close();
    }
  }
}
