/**
 * @module provision: gives a job a clean work dir and results dir on this host, and
 * prepares its assets and test code. Old job dirs are pruned so a host's disk does not
 * fill up with history (results live in the result store).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ErrorType } from '../../domain/errors.js';
import type { JobRun, ProvisionResult } from '../../domain/job-run.js';
import type { HostDeps } from './deps.js';
import { reservedJobDirs } from './reservation.js';
import { handOver, makeJobDir, removeJobDir } from './runner-user.js';
import type { HostSteps, StepContext } from './steps.js';
import { runHook } from './host-hooks.js';
import { runnerEnv } from './runner-env.js';

/** Job dirs kept on a host after their jobs ended, newest first. */
const KEEP_JOB_DIRS = 20;
/** Old job dirs are pruned every so many jobs, not on each (it reads every job dir). */
const PRUNE_EVERY = 10;
let provisioned = 0;

export function jobDirOf(deps: Pick<HostDeps, 'workDir'>, jobId: string): string {
  return path.join(deps.workDir, 'jobs', jobId);
}

export function createProvision(deps: HostDeps, steps: HostSteps = {}) {
  return async function provision(run: JobRun): Promise<ProvisionResult> {
    const started = Date.now();
    const ctx = Context.current();
    const jobDir = jobDirOf(deps, run.jobId);
    const workDir = path.join(jobDir, 'work');
    const resultsDir = path.join(jobDir, 'results');
    try {
      await makeJobDir(jobDir, deps.runnerUser);
      // Old job dirs go in the background: not on the way to the runner's start.
      if (++provisioned % PRUNE_EVERY === 0) {
        void pruneJobDirs(deps, run.jobId).catch((err: unknown) =>
          deps.log.warn('could not prune old job dirs', { error: String(err) }),
        );
      }
    } catch (err) {
      throw ApplicationFailure.create({
        type: ErrorType.Provision,
        message: `could not prepare the work dir ${workDir} on host ${run.hostId}: ${(err as Error).message}`,
        nonRetryable: true,
      });
    }
    ctx.heartbeat({ step: 'dirs' });
    // What provisioning did goes to the top of the job's log.
    const logFile = path.join(jobDir, 'runner.log');
    const stepContext: StepContext = {
      signal: ctx.cancellationSignal,
      note: (line) => fs.appendFile(logFile, `testbay: ${line}\n`),
      heartbeat: (details) => ctx.heartbeat(details),
    };
    // Cloning or a download that makes no progress for a while still heartbeats; a stalled
    // one ends at provisionTimeoutMs.
    const heartbeat = setInterval(() => ctx.heartbeat({ step: 'provisioning' }), 1_000);
    // Only real work (assets, test code) is worth showing; the state is for people, so a
    // report that fails (the record not open yet) is no reason to fail the job.
    const visible = run.assets.length > 0 || run.tests !== undefined;
    const show = (state: 'provisioning' | 'scheduled') =>
      visible ? deps.api.reportProgress(run.jobId, run.leaseToken, { state }).catch(() => undefined) : undefined;
    try {
      await show('provisioning');
      const result: ProvisionResult = { workDir, resultsDir, assets: {}, durationMs: 0 };
      if (run.assets.length > 0) {
        if (!steps.assets)
          throw ApplicationFailure.create({
            type: ErrorType.BrokenSetup,
            message: `host ${run.hostId} cannot fetch assets`,
            nonRetryable: true,
          });
        // The host's folder (hard links to read-only cached files), beside the runner's work dir.
        result.assets = await failAs(ErrorType.Asset, () =>
          steps.assets!(run, path.join(jobDir, 'assets'), stepContext),
        );
      }
      if (run.tests) {
        if (!steps.testCode)
          throw ApplicationFailure.create({
            type: ErrorType.BrokenSetup,
            message: `host ${run.hostId} cannot fetch test code`,
            nonRetryable: true,
          });
        const testsDir = path.join(jobDir, 'tests');
        const { commit, log } = await failAs(ErrorType.TestCode, () => steps.testCode!(run, testsDir, stepContext));
        // Recorded with the job (its investigation compares commits); a report that fails costs only that.
        await deps.api
          .reportProgress(run.jobId, run.leaseToken, { testCode: { commit, ...(log ? { log } : {}) } })
          .catch(() => undefined);
        // Checked out by the host out of the runner's reach; now the runner's.
        await handOver(testsDir, deps.runnerUser);
        result.testsDir = testsDir;
        result.testsCommit = commit;
      }
      const provisionCommand = deps.hooks?.provisionCommand;
      if (provisionCommand) {
        // The operator's hook (reimage, power-cycle the machine under test), as the host's user, with the job's env.
        ctx.heartbeat({ step: 'provisionCommand' });
        const env = runnerEnv(run, result, deps.runnerPath);
        const hook = await runHook('provisionCommand', provisionCommand, {
          env,
          cwd: workDir,
          timeoutMs: run.provisionTimeoutMs,
          killGraceMs: deps.killGraceMs,
          signal: ctx.cancellationSignal,
        });
        if (hook.output) await stepContext.note(`provisionCommand: ${hook.output}`).catch(() => undefined);
        if (!hook.ok) {
          if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
          await stepContext.note(hook.summary).catch(() => undefined);
          throw ApplicationFailure.create({
            type: ErrorType.Provision,
            message: `${hook.summary} (host ${run.hostId})`,
            nonRetryable: true,
          });
        }
      }
      // Ready: it waits for its turn on this host (the previous job of its chain may still run).
      await show('scheduled');
      return { ...result, durationMs: Date.now() - started };
    } catch (err) {
      await steps.releaseAssets?.(run.jobId, workDir);
      throw err;
    } finally {
      clearInterval(heartbeat);
    }

    /** Runs a step; its failure aborts the job with this type (cancellation stays cancellation). */
    async function failAs<T>(type: ErrorType, fn: () => Promise<T>): Promise<T> {
      try {
        return await fn();
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
        if (err instanceof ApplicationFailure) throw err;
        const message = (err as Error).message;
        await stepContext.note(message).catch(() => undefined);
        throw ApplicationFailure.create({ type, message, nonRetryable: true });
      }
    }
  };
}

async function pruneJobDirs(deps: Pick<HostDeps, 'workDir' | 'runnerUser'>, keep: string): Promise<void> {
  const jobsDir = path.join(deps.workDir, 'jobs');
  const entries = await fs.readdir(jobsDir, { withFileTypes: true }).catch(() => []);
  // A reserved job's dir is a person's to debug in: it goes when the reservation ends.
  const reserved = await reservedJobDirs(deps.workDir);
  const dirs = await Promise.all(
    entries
      .filter((e) => e.isDirectory() && e.name !== keep && !reserved.has(e.name))
      .map(async (e) => ({ name: e.name, mtime: (await fs.stat(path.join(jobsDir, e.name))).mtimeMs })),
  );
  dirs.sort((a, b) => b.mtime - a.mtime);
  for (const d of dirs.slice(KEEP_JOB_DIRS - 1)) await removeJobDir(path.join(jobsDir, d.name), deps.runnerUser);
}
