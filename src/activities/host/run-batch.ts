/**
 * @module runBatch: one batch of a batch run on this host. The runner gets the batch's test
 * ids in a file and reports each test as it starts and ends (status lines); every finished
 * result goes into the heartbeat, so if this host dies the workflow still has them. A test
 * running longer than testTimeoutMs, or the batch longer than batchTimeoutMs, stops the
 * runner's process group; so do a cancel and a revoked lease. Returns the results and how
 * the batch ended; the workflow's ledger decides verdicts and requeues.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import type { TestReport } from '../../domain/batch-ledger.js';
import { BATCH_ENV, type BatchAssignment, type BatchOutcome } from '../../domain/batch-work.js';
import type { HostDeps } from './deps.js';
import { readJUnitResults } from './junit.js';
import { LeaseRevokedError, LogSync } from './log-sync.js';
import { spawnGroup, stopGroup } from './process-group.js';
import { readProgressStream, type ProgressLine } from './progress.js';
import { forgetRunner, rememberRunner } from './reaper.js';
import { runnerEnv } from './runner-env.js';

type Stop = { why: 'cancel' | 'timeout'; reason: string };
const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

export function createRunBatch(deps: HostDeps) {
  return async function runBatch(a: BatchAssignment): Promise<BatchOutcome> {
    const ctx = Context.current();
    const started = Date.now();
    const jobDir = path.join(deps.workDir, 'jobs', a.batchId);
    const workDir = path.join(jobDir, 'work');
    const resultsDir = path.join(jobDir, 'results');
    await fs.rm(jobDir, { recursive: true, force: true });
    await fs.mkdir(workDir, { recursive: true });
    await fs.mkdir(resultsDir, { recursive: true });
    const testsFile = path.join(jobDir, 'tests.txt');
    await fs.writeFile(testsFile, `${a.tests.join('\n')}\n`);
    const logFile = path.join(jobDir, 'runner.log');
    const log = createWriteStream(logFile, { flags: 'a' });
    const sync = new LogSync(deps.api, a.batchId, a.leaseToken, logFile);

    const expected = new Set(a.tests);
    const results: TestReport[] = [];
    const reported = new Set<string>();
    let current: string | undefined;
    let stopped: Stop | undefined;
    let testTimer: NodeJS.Timeout | undefined;
    const group: { stop?: (s: Stop) => void } = {};
    const stop = (s: Stop) => {
      if (stopped) return;
      stopped = s;
      group.stop?.(s);
    };
    const beat = () => ctx.heartbeat({ results, ...(current !== undefined ? { current } : {}) });
    const onLine = (line: ProgressLine) => {
      if (line.testStarted !== undefined && expected.has(line.testStarted)) {
        current = line.testStarted;
        clearTimeout(testTimer);
        const test = current;
        testTimer = setTimeout(() => stop({ why: 'timeout', reason: `test ${test} exceeded testTimeoutMs (${seconds(a.testTimeoutMs)})` }), a.testTimeoutMs);
        beat();
      }
      const t = line.test;
      if (t && expected.has(t.name) && !reported.has(t.name)) {
        reported.add(t.name);
        results.push({ test: t.name, status: t.status, ...(t.durationMs !== undefined ? { durationMs: t.durationMs } : {}), ...(t.message !== undefined ? { message: t.message } : {}) });
        if (current === t.name) {
          current = undefined;
          clearTimeout(testTimer);
        }
        beat();
      }
    };

    const run = { jobId: a.batchId, jobName: a.batchRunName, submissionId: a.submissionId, hostId: a.hostId, attempt: 1, leaseToken: a.leaseToken, runner: a.runner, settings: a.settings, timeoutMs: a.batchTimeoutMs, provisionTimeoutMs: 0, assets: [] };
    const env = { ...runnerEnv(run, { workDir, resultsDir }, deps.runnerPath), [BATCH_ENV.testsFile]: testsFile, [BATCH_ENV.batch]: a.batchId, [BATCH_ENV.batchRun]: a.batchRunName };
    let runner;
    try {
      runner = await spawnGroup(a.runner.command, { cwd: workDir, env, output: log, onProgress: (stream) => void readProgressStream(stream, onLine) });
    } catch (err) {
      log.end(`testbay: could not start ${JSON.stringify(a.runner.command[0])}: ${(err as Error).message}\n`);
      await sync.sync().catch(() => undefined);
      return { results, end: { kind: 'crashed', reason: `could not start the batch runner on ${a.hostId}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }, exitCode: null, durationMs: Date.now() - started };
    }
    const pgid = runner.pid;
    group.stop = (s) => {
      deps.log.info('stopping batch runner', { batch: a.batchId, why: s.why, reason: s.reason });
      void stopGroup(pgid, deps.killGraceMs);
    };
    await rememberRunner(deps.workDir, a.batchId, pgid, deps.killGraceMs);

    const heartbeat = setInterval(beat, 1_000);
    let ticking = Promise.resolve();
    const uploader = setInterval(() => {
      ticking = ticking.then(() =>
        sync.sync().then(
          () => undefined,
          (err: unknown) => {
            if (err instanceof LeaseRevokedError) stop({ why: 'cancel', reason: `lease revoked: ${err.message}` });
          },
        ),
      );
    }, deps.logFlushMs);
    const batchTimer = setTimeout(() => stop({ why: 'timeout', reason: `batch exceeded batchTimeoutMs (${seconds(a.batchTimeoutMs)})` }), a.batchTimeoutMs);
    const onCancel = () => stop({ why: 'cancel', reason: `cancelled (${String(ctx.cancellationSignal.reason ?? 'by request')})` });
    ctx.cancellationSignal.addEventListener('abort', onCancel);
    const exit = await runner.exited;
    try {
      await stopGroup(pgid, Math.min(deps.killGraceMs, 2_000));
      await Promise.race([runner.closed, sleep(2_000)]);
    } finally {
      clearInterval(heartbeat);
      clearInterval(uploader);
      clearTimeout(batchTimer);
      clearTimeout(testTimer);
      ctx.cancellationSignal.removeEventListener('abort', onCancel);
      await forgetRunner(deps.workDir, a.batchId, pgid);
    }
    await new Promise<void>((resolve) => log.end(resolve));
    await ticking;

    // Tests the runner reported only in JUnit XML count too.
    for (const c of await readJUnitResults(resultsDir)) {
      if (expected.has(c.name) && !reported.has(c.name)) {
        reported.add(c.name);
        results.push({ test: c.name, status: c.status, ...(c.durationMs !== undefined ? { durationMs: c.durationMs } : {}), ...(c.message !== undefined ? { message: c.message } : {}) });
      }
    }
    // Final uploads: the whole log and the batch's per-test results (idempotent).
    await Promise.all([
      sync.sync(),
      results.length > 0 ? deps.api.putTests(a.batchId, a.leaseToken, results.map((r) => ({ name: r.test, status: r.status, ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}), ...(r.message !== undefined ? { message: r.message } : {}) }))) : undefined,
    ]).catch((err: unknown) => deps.log.warn('batch upload failed', { batch: a.batchId, error: String(err) }));

    const s = stopped;
    const end: BatchOutcome['end'] = s
      ? { kind: s.why === 'cancel' ? 'cancelled' : 'timeout', reason: s.reason }
      : exit.signal !== null
        ? { kind: 'crashed', reason: `batch runner was killed by ${exit.signal}` }
        : { kind: 'completed', reason: `runner exited with code ${exit.code ?? 'unknown'}` };
    return { results, ...(end.kind !== 'completed' && current !== undefined ? { current } : {}), end, exitCode: exit.code, durationMs: Date.now() - started };
  };
}
