/**
 * @module runBatch: one batch of a batch run on this host. The runner gets the batch's test
 * ids in a file and reports each test as it starts and ends (status lines on fd 3 or the
 * progress file); every finished result goes into the heartbeat, so if this host dies the
 * workflow still has them. A test running longer than testTimeoutMs, or the batch longer
 * than its deadline, stops the runner's process group; so do a cancel, a revoked lease,
 * and a host shutdown that outlasts its deadline. Returns the results and how the batch
 * ended; the workflow's ledger decides verdicts and requeues. When this attempt turns out
 * to be fenced (Temporal gave it up, the API refuses its lease), its results are sent to
 * the batch run as late results: history, never a verdict.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { TestReport } from '../../domain/batch-ledger.js';
import {
  BATCH_ENV,
  timerMs,
  type BatchAssignment,
  type BatchReport,
  type LateResults,
} from '../../domain/batch-work.js';
import { lateResultsSignal } from '../../workflows/batch-run-messages.js';
import type { HostDeps } from './deps.js';
import { readTestResults } from './junit.js';
import { makeJobDir } from './runner-user.js';
import { fitTests } from './tests-upload.js';
import type { Exit } from './process-group.js';
import type { ProgressLine } from './progress.js';
import { runnerEnv } from './runner-env.js';
import { isLeaseRevoked, RunnerSession } from './runner-session.js';

/** Why the host stopped the runner: a person's cancel, a deadline, a shutdown, or a fenced attempt. */
type Stop = { why: 'cancel' | 'timeout' | 'shutdown' | 'fenced'; reason: string };
const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
/** Heartbeats carry every result so far: at most one this often (a big batch's details are not small). */
const BEAT_EVERY_MS = 200;

export function createRunBatch(deps: HostDeps) {
  return async function runBatch(a: BatchAssignment): Promise<BatchReport> {
    const ctx = Context.current();
    const started = Date.now();
    const results: TestReport[] = [];
    let current: string | undefined;
    // The first heartbeat says "started, nothing finished": from now on the progress is known.
    ctx.heartbeat({ results });
    if (deps.shutdown.aborted) {
      return {
        results,
        end: { kind: 'host-shutdown', reason: `host ${a.hostId} shutting down` },
        exitCode: null,
        durationMs: 0,
        hostShuttingDown: true,
      };
    }
    const jobDir = path.join(deps.workDir, 'jobs', a.batchId);
    const workDir = path.join(jobDir, 'work');
    const resultsDir = path.join(jobDir, 'results');
    await makeJobDir(jobDir, deps.runnerUser);
    const testsFile = path.join(jobDir, 'tests.txt');
    // The host's, for the runner (maybe another user) to read.
    await fs.writeFile(testsFile, `${a.tests.join('\n')}\n`, { mode: 0o644 });
    await fs.chmod(testsFile, 0o644);
    const expected = new Set(a.tests);
    const reported = new Set<string>();
    let testTimer: NodeJS.Timeout | undefined;
    /** the API refused this attempt's lease: it is fenced */
    let refused = false;
    let beatTimer: NodeJS.Timeout | undefined;
    const beatNow = () => {
      clearTimeout(beatTimer);
      beatTimer = undefined;
      ctx.heartbeat({ results, ...(current !== undefined ? { current } : {}) });
    };
    const beat = () => {
      beatTimer ??= setTimeout(beatNow, BEAT_EVERY_MS);
    };
    const onLine = (line: ProgressLine) => {
      if (line.testStarted !== undefined && expected.has(line.testStarted) && !reported.has(line.testStarted)) {
        current = line.testStarted;
        clearTimeout(testTimer);
        const test = current;
        testTimer = setTimeout(
          () =>
            session.stop({
              why: 'timeout',
              reason: `test ${test} exceeded testTimeoutMs (${seconds(a.testTimeoutMs)})`,
            }),
          timerMs(a.testTimeoutMs),
        );
        beat();
      }
      const t = line.test;
      if (t && expected.has(t.name) && !reported.has(t.name)) {
        reported.add(t.name);
        results.push({
          test: t.name,
          status: t.status,
          ...(t.durationMs !== undefined ? { durationMs: t.durationMs } : {}),
          ...(t.message !== undefined ? { message: t.message } : {}),
        });
        if (current === t.name) {
          current = undefined;
          clearTimeout(testTimer);
        }
        beat();
      }
    };
    const session: RunnerSession<Stop> = await RunnerSession.open<Stop>(deps, {
      id: a.batchId,
      label: 'batch runner',
      logFields: { batch: a.batchId },
      log: { jobDir, leaseToken: a.leaseToken, secrets: a.secrets, onLine },
    });
    const progressFile = session.progressFile!;
    const sync = session.sync!;

    const run = {
      jobId: a.batchId,
      jobName: a.batchRunName,
      submissionId: a.submissionId,
      hostId: a.hostId,
      attempt: 1,
      leaseToken: a.leaseToken,
      runner: a.runner,
      settings: a.settings,
      ...(a.secrets ? { secrets: a.secrets } : {}),
      timeoutMs: a.batchTimeoutMs,
      provisionTimeoutMs: 0,
      assets: [],
    };
    const env = {
      ...runnerEnv(run, { workDir, resultsDir, progressFile: progressFile.file }, deps.runnerPath, deps.runnerUser),
      [BATCH_ENV.testsFile]: testsFile,
      [BATCH_ENV.batch]: a.batchId,
      [BATCH_ENV.batchRun]: a.batchRunName,
    };
    const e = await session.spawn(a.runner.command, { cwd: workDir, env });
    if (e)
      return {
        results,
        end: { kind: 'crashed', reason: `could not start the batch runner on ${a.hostId}: ${e.code ?? e.message}` },
        exitCode: null,
        durationMs: Date.now() - started,
      };

    session.heartbeat(beatNow);
    // Uploads: the log, and progress on the batch's record.
    let sentProgress = '';
    session.upload(async () => {
      try {
        await progressFile.read();
        await sync.sync();
        const progress = {
          ...(current !== undefined ? { module: current.slice(0, 200) } : {}),
          percent: Math.round((results.length / a.tests.length) * 100),
          message: `${results.length} of ${a.tests.length} tests done`,
        };
        const key = JSON.stringify(progress);
        if (key !== sentProgress) {
          await deps.api.reportProgress(a.batchId, a.leaseToken, {
            ...(sentProgress === '' ? { state: 'running' as const } : {}),
            progress,
          });
          sentProgress = key;
        }
      } catch (err) {
        if (isLeaseRevoked(err)) {
          refused = true;
          session.stop({ why: 'fenced', reason: `lease revoked: ${err.message}` });
        }
      }
    });
    session.after(timerMs(a.batchTimeoutMs), () =>
      session.stop({ why: 'timeout', reason: `batch exceeded batchTimeoutMs (${seconds(a.batchTimeoutMs)})` }),
    );
    session.onCancel(() => {
      const details = ctx.cancellationDetails;
      if (details?.workerShutdown) session.stop({ why: 'shutdown', reason: `host ${a.hostId} shutting down` });
      else if (details && (details.timedOut || details.notFound))
        session.stop({ why: 'fenced', reason: 'Temporal gave this attempt up (it timed out)' });
      else
        session.stop({ why: 'cancel', reason: `cancelled (${String(ctx.cancellationSignal.reason ?? 'by request')})` });
    });
    // SIGTERM: the batch may finish within the shutdown deadline; past it, the runner is stopped.
    session.stopAtShutdown({ why: 'shutdown', reason: `host ${a.hostId} shutting down` });

    let exit: Exit;
    try {
      exit = await session.wait();
    } finally {
      session.close();
      clearTimeout(testTimer);
      clearTimeout(beatTimer);
      await session.forget();
    }
    await session.closeLog();
    await session.settled();

    // Tests the runner reported only in JUnit XML or TAP count too (within the host's limits).
    const fromFiles = await readTestResults(
      resultsDir,
      { maxBytes: deps.maxResultsBytes, maxTestcases: deps.maxTestcases },
      deps.runnerUser,
    ).catch((err: unknown) => {
      deps.log.warn("could not read the batch's result files", { batch: a.batchId, error: String(err) });
      return [];
    });
    for (const c of fromFiles) {
      if (expected.has(c.name) && !reported.has(c.name)) {
        reported.add(c.name);
        results.push({
          test: c.name,
          status: c.status,
          ...(c.durationMs !== undefined ? { durationMs: c.durationMs } : {}),
          ...(c.message !== undefined ? { message: c.message } : {}),
        });
      }
    }
    // Final uploads: the whole log and the batch's per-test results (idempotent).
    const fitted =
      results.length > 0
        ? await fitTests(
            results.map((r) => ({
              name: r.test,
              status: r.status,
              ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}),
              ...(r.message !== undefined ? { message: r.message } : {}),
            })),
          )
        : undefined;
    await Promise.all([
      sync.sync(),
      fitted ? deps.api.putTests(a.batchId, a.leaseToken, fitted.tests) : undefined,
    ]).catch((err: unknown) => {
      if (isLeaseRevoked(err)) refused = true;
      else deps.log.warn('batch upload failed', { batch: a.batchId, error: String(err) });
    });

    const unreported = a.tests.length - results.length;
    const s = session.stopped;
    let end: BatchReport['end'];
    if (s?.why === 'cancel') end = { kind: 'cancelled', reason: s.reason };
    else if (s?.why === 'timeout') end = { kind: 'timeout', reason: s.reason };
    else if (s?.why === 'shutdown') end = { kind: 'host-shutdown', reason: s.reason };
    else if (s?.why === 'fenced') end = { kind: 'host-lost', reason: s.reason };
    else if (exit.signal !== null) end = { kind: 'crashed', reason: `batch runner was killed by ${exit.signal}` };
    // A runner that exits (uncaught exception, exit 1) with tests unreported crashed: the test it was in is the suspect.
    else if (unreported > 0)
      end = {
        kind: 'crashed',
        reason: `batch runner exited with code ${exit.code ?? 'unknown'} with ${unreported} of ${a.tests.length} tests unreported`,
      };
    else end = { kind: 'completed', reason: `runner exited with code ${exit.code ?? 'unknown'}` };

    const fenced = refused || s?.why === 'fenced';
    if (fenced) await reportLate(deps, a, results);
    return {
      results,
      ...(end.kind !== 'completed' && current !== undefined ? { current } : {}),
      end,
      exitCode: exit.code,
      durationMs: Date.now() - started,
      ...(deps.shutdown.aborted ? { hostShuttingDown: true } : {}),
    };
  };
}

/** Sends a fenced attempt's results to its batch run, which keeps them as history. */
async function reportLate(deps: HostDeps, a: BatchAssignment, results: TestReport[]): Promise<void> {
  if (results.length === 0) return;
  const late: LateResults = { batchId: a.batchId, hostId: a.hostId, results };
  try {
    await Context.current().client.workflow.getHandle(a.batchRunWorkflowId).signal(lateResultsSignal, late);
    deps.log.info('this batch attempt was fenced; its results went to the batch run as late results', {
      batch: a.batchId,
      results: results.length,
    });
  } catch (err) {
    // The run ended meanwhile: nobody counts them any more.
    deps.log.warn('could not send late results of a fenced batch', { batch: a.batchId, error: String(err) });
  }
}
