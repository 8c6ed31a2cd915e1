/**
 * @module The runner's environment: a few variables of the host's own (PATH, HOME, locale),
 * the job's settings and secrets (opened), and the TESTBAY_* variables of the runner contract. Nothing else of
 * the host's environment (its tokens above all) reaches the runner.
 */
import path from 'node:path';
import type { JobRun } from '../../domain/job-run.js';
import { jobTokenOf } from '../../job-token.js';
import type { RunnerUser } from './runner-user.js';

const PASS_THROUGH = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'USER', 'LOGNAME', 'SHELL', 'TERM'];

export const PROGRESS_FD = 3;

/** What every process a runner starts inherits in its environment: how its descendants are found even outside its process group. */
export const runnerMarker = (jobId: string) => `TESTBAY_JOB_ID=${jobId}`;

/** How a recipe set's runner reaches its partners: the API's URL (TESTBAY_URL). */
export interface PartnerAccess {
  apiUrl: string;
}

export interface RunnerDirs {
  workDir: string;
  resultsDir: string;
  /** the file the runner may append status lines to */
  progressFile?: string;
  testsDir?: string;
  assets?: Record<string, string>;
}

export function runnerEnv(
  run: JobRun,
  dirs: RunnerDirs,
  runnerPath: readonly string[],
  user?: RunnerUser,
  hostEnv: NodeJS.ProcessEnv = process.env,
  access?: PartnerAccess,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of PASS_THROUGH) if (hostEnv[key] !== undefined) env[key] = hostEnv[key];
  if (user?.separate) {
    // The runner user's own identity; its home if it has one, else its work dir.
    Object.assign(env, { HOME: user.home ?? dirs.workDir, USER: user.name, LOGNAME: user.name });
    delete env.TMPDIR;
  }
  env.PATH = [...runnerPath, hostEnv.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(path.delimiter);
  Object.assign(env, run.settings, run.secrets);
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
  if (run.partners) {
    // The job token is derived from the upload token one way: it reaches partners, never uploads.
    Object.assign(env, {
      TESTBAY_PARTNERS: JSON.stringify(run.partners),
      TESTBAY_ROLE: run.role ?? run.jobName,
      TESTBAY_JOB_TOKEN: jobTokenOf(run.leaseToken),
    });
    if (access) env.TESTBAY_URL = access.apiUrl;
  }
  if (dirs.progressFile) env.TESTBAY_PROGRESS_FILE = dirs.progressFile;
  if (dirs.testsDir) env.TESTBAY_TESTS_DIR = dirs.testsDir;
  if (dirs.assets && Object.keys(dirs.assets).length > 0)
    env.TESTBAY_ASSETS_DIR = path.dirname(Object.values(dirs.assets)[0]!); // all in one folder
  return env;
}

/** What the job's log masks: its secrets, and the job token a runner of a recipe set has. */
export function logSecrets(run: JobRun): Record<string, string> | undefined {
  return run.partners ? { ...run.secrets, TESTBAY_JOB_TOKEN: jobTokenOf(run.leaseToken) } : run.secrets;
}
