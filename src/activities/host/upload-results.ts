/**
 * @module uploadResults: after the runner ended, makes sure the API has the whole log, the
 * per-test results and every file the runner left in its results dir. Each step is
 * idempotent, so Temporal may retry the activity on this host after a transient error.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApiError } from '../../api/client.js';
import { checkArtifactName } from '../../domain/artifact-name.js';
import { ErrorType } from '../../domain/errors.js';
import type { JobRun, ProvisionResult, RunTestsResult, UploadResultsResult } from '../../domain/job-run.js';
import type { HostDeps } from './deps.js';
import { readJUnitResults } from './junit.js';
import { LeaseRevokedError, LogSync } from './log-sync.js';

export interface UploadSteps {
  /** turns a file into what is uploaded (e.g. a losslessly optimised PNG); returns bytes saved */
  prepare?: (file: string) => Promise<{ file: string; savedBytes: number }>;
}

export function createUploadResults(deps: HostDeps, steps: UploadSteps = {}) {
  return async function uploadResults(input: { run: JobRun; provisioned: ProvisionResult; outcome?: RunTestsResult }): Promise<UploadResultsResult> {
    const { run, provisioned } = input;
    const ctx = Context.current();
    try {
      const tests = await readJUnitResults(provisioned.resultsDir);
      await Promise.all([
        deps.api.reportProgress(run.jobId, run.leaseToken, { state: 'uploading' }),
        new LogSync(deps.api, run.jobId, run.leaseToken, path.join(path.dirname(provisioned.workDir), 'runner.log')).sync(),
        tests.length > 0 ? deps.api.putTests(run.jobId, run.leaseToken, tests) : undefined,
      ]);
      let artifacts = 0;
      let bytes = 0;
      let savedBytes = 0;
      for (const name of await listFiles(provisioned.resultsDir)) {
        if (!checkArtifactName(name).ok) {
          deps.log.warn('skipping artifact with an unsafe name', { job: run.jobId, name });
          continue;
        }
        const original = path.join(provisioned.resultsDir, name);
        const prepared = steps.prepare ? await steps.prepare(original) : { file: original, savedBytes: 0 };
        const size = (await fs.stat(prepared.file)).size;
        await deps.api.putArtifact(run.jobId, run.leaseToken, name, createReadStream(prepared.file), size);
        artifacts++;
        bytes += size;
        savedBytes += prepared.savedBytes;
        ctx.heartbeat({ artifacts });
      }
      if (savedBytes > 0) await deps.api.reportProgress(run.jobId, run.leaseToken, { savedBytes });
      return { artifacts, bytes, savedBytes };
    } catch (err) {
      if (err instanceof LeaseRevokedError || (err instanceof ApiError && err.status === 409)) {
        throw ApplicationFailure.create({ type: ErrorType.LeaseRevoked, message: (err).message, nonRetryable: true });
      }
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
        throw ApplicationFailure.create({ type: ErrorType.Upload, message: `upload refused: ${err.message}`, nonRetryable: true });
      }
      throw ApplicationFailure.create({ type: ErrorType.Upload, message: `upload failed: ${(err as Error).message}` });
    }
  };
}

/** Files under dir as relative '/'-separated names, sorted. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, prefix), { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out.sort();
}
