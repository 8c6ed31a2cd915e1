/**
 * @module The normalized job and submission: what the spec schema produces once defaults
 * are applied. Every later stage (planner, workflows, API) reads these types.
 */
import type { Requirement } from './requirements.js';
import type { ReserveSpec } from './reservation.js';

export interface Asset {
  url: string;
  sha256: string;
  name?: string;
}

export interface TestCode {
  git: string;
  ref: string;
}

export interface Job {
  name: string;
  description?: string;
  runner: { command: string[] };
  settings: Record<string, string>;
  /** environment variables only the runner sees: sealed once the API accepted them (sealing.ts) */
  secrets?: Record<string, string>;
  workerClass: string;
  /** the pool whose scheduler leases its host; absent = `default` */
  pool?: string;
  hostRequires: Requirement[];
  timeoutMs: number;
  provisionTimeoutMs: number;
  /** no log output and no status line for this long stops the runner (aborted, no-output) */
  outputTimeoutMs?: number;
  queueTimeoutMs?: number;
  priority: number;
  maxRetries: number;
  assets: Asset[];
  tests?: TestCode;
  startAfter: string[];
  startDirectlyAfter?: string;
  parallelWith: string[];
  /** TESTBAY_ROLE of its runner; absent: the job's name */
  role?: string;
  /** false: its recipe set's partners run on when a job of the set fails (absent: true) */
  stopPartnersOnFailure?: boolean;
  /** settings that belong to the job's scenario besides its name and worker class */
  scenarioKeys?: string[];
  /** keep the host for a person after the job, when its result says so */
  reserve?: ReserveSpec;
  /** the one host (by id) the job may run on */
  host?: string;
}

/** A batch run: many test ids spread in batches over hosts, each test ending with one verdict. */
export interface BatchRun {
  name: string;
  description?: string;
  /** the test ids; absent when testsCommand lists them on a host */
  tests?: string[];
  /** argv run on a host that prints the test ids, one per line */
  testsCommand?: string[];
  batchSize: number;
  runner: { command: string[] };
  settings: Record<string, string>;
  /** as for a job: sealed once accepted */
  secrets?: Record<string, string>;
  workerClass: string;
  /** the pool whose scheduler leases its hosts; absent = `default` */
  pool?: string;
  hostRequires: Requirement[];
  priority: number;
  testTimeoutMs: number;
  /** a full batch's deadline: the spec's, or scaled from batchSize × testTimeoutMs */
  batchTimeoutMs: number;
  /** set when the spec gave batchTimeoutMs: then every batch gets exactly that */
  batchTimeoutGiven?: boolean;
  requeueLimit: number;
  maxRequeueRatio: number;
  retryFailed: number;
  maxHosts: number;
  /** settings that belong to the run's scenario besides its name and worker class */
  scenarioKeys?: string[];
}

export interface Submission {
  name?: string;
  /** the commit under test, whose status is posted (src/domain/webhooks.ts) */
  commit?: { repo: string; sha: string; statusUrl?: string };
  jobs: Job[];
  batchRuns?: BatchRun[];
}
