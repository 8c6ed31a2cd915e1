/**
 * @module The runner's environment: a few variables of the host's own (PATH, HOME, locale),
 * the job's settings, and the TESTBAY_* variables of the runner contract. Nothing else of
 * the host's environment (its tokens above all) reaches the runner.
 */
import path from 'node:path';
import type { JobRun } from '../../domain/job-run.js';

const PASS_THROUGH = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'USER', 'LOGNAME', 'SHELL', 'TERM'];

export const PROGRESS_FD = 3;

export function runnerEnv(run: JobRun, dirs: { workDir: string; resultsDir: string }, runnerPath: readonly string[], hostEnv: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of PASS_THROUGH) if (hostEnv[key] !== undefined) env[key] = hostEnv[key];
  env.PATH = [...runnerPath, hostEnv.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(path.delimiter);
  Object.assign(env, run.settings);
  Object.assign(env, {
    TESTBAY_JOB: run.jobName,
    TESTBAY_JOB_ID: run.jobId,
    TESTBAY_SUBMISSION: run.submissionId,
    TESTBAY_HOST: run.hostId,
    TESTBAY_ATTEMPT: String(run.attempt),
    TESTBAY_RESULTS_DIR: dirs.resultsDir,
    TESTBAY_WORK_DIR: dirs.workDir,
    TESTBAY_PROGRESS_FD: String(PROGRESS_FD),
  });
  return env;
}
