/**
 * @module uploadResults: after the runner ended, makes sure the API has the whole log, the
 * per-test results and every file the runner left in its results dir (PNGs optimised
 * losslessly; files already uploaded while it ran are skipped). Each step is idempotent,
 * so Temporal may retry the activity on this host after a transient error.
 */
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApiError } from '../../api/client.js';
import { ErrorType } from '../../domain/errors.js';
import type { JobRun, ProvisionResult, RunTestsResult, UploadResultsResult } from '../../domain/job-run.js';
import type { HostDeps } from './deps.js';
import { ArtifactSync } from './artifact-sync.js';
import { isLeaseRevoked, LogSync } from './log-sync.js';
import type { HostSteps } from './steps.js';
import { collectTests } from './test-results.js';
import { fitTests } from './tests-upload.js';

/**
 * The final uploads of a job: the whole log, the per-test results, every result file.
 * runTests does this itself right after its runner ended (no round trip); the
 * uploadResults activity does it again, with retries, when that did not complete.
 */
export async function finalUpload(
  deps: HostDeps,
  steps: HostSteps,
  run: JobRun,
  provisioned: ProvisionResult,
  heartbeat: (details: unknown) => void,
): Promise<UploadResultsResult> {
  const jobDir = path.dirname(provisioned.workDir);
  await steps.releaseAssets?.(run.jobId, provisioned.workDir);
  const tests = await collectTests(
    jobDir,
    provisioned.resultsDir,
    { maxBytes: deps.maxResultsBytes, maxTestcases: deps.maxTestcases },
    deps.runnerUser,
  );
  // Too many to upload even with their messages cut: none (the job is aborted results-too-large).
  const fitted =
    tests.length > 0
      ? await fitTests(tests).then(
          (f) => f.tests,
          () => [],
        )
      : [];
  await Promise.all([
    deps.api.reportProgress(run.jobId, run.leaseToken, { state: 'uploading' }),
    new LogSync(deps.api, run.jobId, run.leaseToken, path.join(jobDir, 'runner.log')).sync(),
    fitted.length > 0 ? deps.api.putTests(run.jobId, run.leaseToken, fitted) : undefined,
  ]);
  // Whatever went up while the runner ran is skipped (same size and time).
  const artifacts = new ArtifactSync(deps.api, run, jobDir, steps.prepare, deps.log, deps.runnerUser);
  await artifacts.sync({ final: true, onUploaded: (count) => heartbeat({ artifacts: count }) });
  const totals = await artifacts.totals();
  if (totals.savedBytes > 0)
    await deps.api.reportProgress(run.jobId, run.leaseToken, { savedBytes: totals.savedBytes });
  return totals;
}

export function createUploadResults(deps: HostDeps, steps: HostSteps = {}) {
  return async function uploadResults(input: {
    run: JobRun;
    provisioned: ProvisionResult;
    outcome?: RunTestsResult;
  }): Promise<UploadResultsResult> {
    const { run, provisioned } = input;
    const ctx = Context.current();
    // A large log or many artifacts take a while: heartbeat all along, not only per file.
    const beat = setInterval(() => ctx.heartbeat(), 1_000);
    try {
      return await finalUpload(deps, steps, run, provisioned, (details) => ctx.heartbeat(details));
    } catch (err) {
      if (isLeaseRevoked(err)) {
        throw ApplicationFailure.create({ type: ErrorType.LeaseRevoked, message: err.message, nonRetryable: true });
      }
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
        throw ApplicationFailure.create({
          type: ErrorType.Upload,
          message: `upload refused: ${err.message}`,
          nonRetryable: true,
        });
      }
      throw ApplicationFailure.create({ type: ErrorType.Upload, message: `upload failed: ${(err as Error).message}` });
    } finally {
      clearInterval(beat);
    }
  };
}
