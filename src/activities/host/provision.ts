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

/** Job dirs kept on a host after their jobs ended, newest first. */
const KEEP_JOB_DIRS = 20;

export interface ProvisionSteps {
  /** downloads (or finds in the cache) the job's assets; returns name → path */
  assets?: (run: JobRun, assetsDir: string) => Promise<Record<string, string>>;
  /** checks out the job's test code into the work dir */
  testCode?: (run: JobRun, workDir: string) => Promise<void>;
}

export function jobDirOf(deps: Pick<HostDeps, 'workDir'>, jobId: string): string {
  return path.join(deps.workDir, 'jobs', jobId);
}

export function createProvision(deps: HostDeps, steps: ProvisionSteps = {}) {
  return async function provision(run: JobRun): Promise<ProvisionResult> {
    const started = Date.now();
    const ctx = Context.current();
    const jobDir = jobDirOf(deps, run.jobId);
    const workDir = path.join(jobDir, 'work');
    const resultsDir = path.join(jobDir, 'results');
    try {
      await fs.rm(jobDir, { recursive: true, force: true });
      await fs.mkdir(workDir, { recursive: true });
      await fs.mkdir(resultsDir, { recursive: true });
      // Old job dirs go in the background: not on the way to the runner's start.
      void pruneJobDirs(path.join(deps.workDir, 'jobs'), run.jobId).catch((err: unknown) => deps.log.warn('could not prune old job dirs', { error: String(err) }));
    } catch (err) {
      throw ApplicationFailure.create({
        type: ErrorType.Provision,
        message: `could not prepare the work dir ${workDir} on host ${run.hostId}: ${(err as Error).message}`,
        nonRetryable: true,
      });
    }
    ctx.heartbeat({ step: 'dirs' });
    let assets: Record<string, string> = {};
    if (run.assets.length > 0) {
      if (!steps.assets) throw ApplicationFailure.create({ type: ErrorType.BrokenSetup, message: `host ${run.hostId} cannot fetch assets`, nonRetryable: true });
      assets = await steps.assets(run, path.join(workDir, 'assets'));
    }
    if (run.tests) {
      if (!steps.testCode) throw ApplicationFailure.create({ type: ErrorType.BrokenSetup, message: `host ${run.hostId} cannot fetch test code`, nonRetryable: true });
      await steps.testCode(run, workDir);
    }
    return { workDir, resultsDir, assets, durationMs: Date.now() - started };
  };
}

async function pruneJobDirs(jobsDir: string, keep: string): Promise<void> {
  const entries = await fs.readdir(jobsDir, { withFileTypes: true }).catch(() => []);
  const dirs = await Promise.all(
    entries
      .filter((e) => e.isDirectory() && e.name !== keep)
      .map(async (e) => ({ name: e.name, mtime: (await fs.stat(path.join(jobsDir, e.name))).mtimeMs })),
  );
  dirs.sort((a, b) => b.mtime - a.mtime);
  for (const d of dirs.slice(KEEP_JOB_DIRS - 1)) await fs.rm(path.join(jobsDir, d.name), { recursive: true, force: true });
}
