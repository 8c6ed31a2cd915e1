/**
 * @module What crosses between workflows and host activities for one job attempt: the
 * work order a host receives and what it reports back. Plain JSON, shared by both sides.
 */
import type { z } from 'zod';
import type { Asset, TestCode } from './job.js';
import type { JobResult, TestSummary } from './outcome.js';
import type { Partner } from './partners.js';
import type { progress } from './wire/results.js';

/** One attempt of one job on one host, under one lease. */
export interface JobRun {
  jobId: string;
  jobName: string;
  submissionId: string;
  hostId: string;
  attempt: number;
  /**
   * the job record's upload token (random, made by the API when the record was opened),
   * sealed in Temporal; the host opens it (sealing.ts) and every upload carries it
   */
  leaseToken: string;
  runner: { command: string[] };
  settings: Record<string, string>;
  /** sealed; the host opens them into the runner's environment, and nowhere else */
  secrets?: Record<string, string>;
  timeoutMs: number;
  provisionTimeoutMs: number;
  /** no log output and no status line for this long stops the runner (aborted, no-output) */
  outputTimeoutMs?: number;
  assets: Asset[];
  tests?: TestCode;
  /** a recipe set's job: every job of the set, where it runs (TESTBAY_PARTNERS), and its role */
  partners?: Record<string, Partner>;
  role?: string;
}

export interface ProvisionResult {
  workDir: string;
  resultsDir: string;
  /** asset file name → path in the job's work dir (a link into the host's cache) */
  assets: Record<string, string>;
  /** where the job's test code is checked out, and at which commit */
  testsDir?: string;
  testsCommit?: string;
  durationMs: number;
}

/** Progress a runner reports (a JSON line) and the host heartbeats and uploads. */
/** A job's progress as the host reports it (wire/results.ts). */
export type Progress = z.infer<typeof progress>;

export interface RunTestsResult {
  result: JobResult;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  tests?: TestSummary;
  lastProgress?: Progress;
  /** set when the runner never started (its parent on the host did not pass, or the host shut down) */
  notStarted?: true;
  /** set when runTests also did the final uploads (no uploadResults needed) */
  uploaded?: UploadResultsResult;
  /** set when runTests provisioned the job itself (nothing to provision but its dirs) */
  provisioned?: ProvisionResult;
}

export interface UploadResultsResult {
  artifacts: number;
  bytes: number;
  /** bytes PNG optimisation saved before upload */
  savedBytes: number;
}

/** Timeouts and limits the workflows use, from the control worker's config. */
export interface RunConfig {
  /** host activities must heartbeat within this, or the host counts as lost */
  heartbeatTimeoutMs: number;
  /** a host must pick up its work within this, or the host counts as lost */
  hostPickupTimeoutMs: number;
  /** how long final uploads may take */
  uploadTimeoutMs: number;
  /** server-side cap on a recipe set's maxRetries */
  maxRetriesCap: number;
  /**
   * a host is broken after this many aborts in a row (the scheduler's rule, its
   * `brokenAfterAborts`), and a batch run stops using a host after this many lost batches in a row
   */
  brokenAfterAborts: number;
  /** a batch run keeps the ledger of at most this many tests per run of its workflow (history stays bounded) */
  batchShardTests: number;
  /** all extensions of one job's deadline together (TESTBAY_MAX_EXTEND_MS); absent in workflows started before extensions */
  maxExtendMs?: number;
  /** TESTBAY_MAX_RESERVE_MS: the longest a reservation after a job holds its host, extensions included (absent: 24 h) */
  maxReserveMs?: number;
  /** TESTBAY_MAX_LOAN_MS: the longest a submit token may borrow an idle host (absent: 4 h) */
  maxLoanMs?: number;
}

export const DEFAULT_RUN_CONFIG: RunConfig = {
  heartbeatTimeoutMs: 10_000,
  hostPickupTimeoutMs: 30_000,
  uploadTimeoutMs: 5 * 60_000,
  maxRetriesCap: 5,
  brokenAfterAborts: 3,
  batchShardTests: 2_000,
};

/**
 * The broken-host count of a run config, also from one written before the field had the
 * scheduler's name (`hostBreakerAborts`: the input of workflows started then).
 */
export function brokenAfterAbortsOf(config: RunConfig): number {
  return (
    config.brokenAfterAborts ??
    (config as { hostBreakerAborts?: number }).hostBreakerAborts ??
    DEFAULT_RUN_CONFIG.brokenAfterAborts
  );
}
