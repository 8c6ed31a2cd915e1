/**
 * @module What crosses between the batch-run workflow and a host for one batch: the
 * assignment (which tests, under which lease, with which deadlines) and what came back
 * (the results, and how the batch ended). Also what the runner of a batch is told and may
 * say, a batch's deadline, and the listing of a run's tests by its testsCommand.
 */
import type { TestReport } from './batch-ledger.js';

export interface BatchAssignment {
  /** the batch's own record id in the result store: `<submission>.<run>.<batch>` */
  batchId: string;
  batchRunName: string;
  /** the batch run's workflow: where a fenced attempt sends its late results */
  batchRunWorkflowId: string;
  submissionId: string;
  hostId: string;
  /** the batch record's upload token, sealed (the host opens it: sealing.ts) */
  leaseToken: string;
  tests: string[];
  runner: { command: string[] };
  settings: Record<string, string>;
  /** sealed; the host opens them into the runner's environment */
  secrets?: Record<string, string>;
  testTimeoutMs: number;
  /** this batch's deadline (batchTimeoutFor) */
  batchTimeoutMs: number;
}

/** Heartbeat details of a running batch: every finished result so far, and the test running now. */
export interface BatchProgress {
  results: TestReport[];
  current?: string;
}

/**
 * How a batch ended, as the host saw it. `host-shutdown`: the host stopped the runner to
 * shut down (its unfinished tests are not at fault); `host-lost`: the host lost its lease
 * (revoked: it was presumed dead) and stopped the runner.
 */
export type HostBatchEndKind = 'completed' | 'crashed' | 'timeout' | 'cancelled' | 'host-shutdown' | 'host-lost';

export interface BatchReport extends BatchProgress {
  end: { kind: HostBatchEndKind; reason: string };
  exitCode: number | null;
  durationMs: number;
  /** the host is shutting down: hand it no more batches */
  hostShuttingDown?: boolean;
}

/** Results a host got from an attempt Temporal had already fenced (timed out): history, never a verdict. */
export interface LateResults {
  batchId: string;
  hostId: string;
  results: TestReport[];
}

/**
 * The batch runner contract, beyond the job runner's: the test ids are in the file
 * TESTBAY_TESTS_FILE (one per line); on fd TESTBAY_PROGRESS_FD (or appended to the file
 * TESTBAY_PROGRESS_FILE) the runner writes `{"testStarted": "<id>"}` when a test begins
 * and `{"test": {"name": "<id>", "status": "passed"|"failed"|"error"|"skipped",
 * "durationMs": n, "message": "…"}}` when it ends. Tests it reports no result for are
 * requeued; the one running when it died (the last testStarted) is isolated. Without
 * testStarted lines, testTimeoutMs cannot apply and no test can be told the suspect.
 */
export const BATCH_ENV = {
  testsFile: 'TESTBAY_TESTS_FILE',
  batch: 'TESTBAY_BATCH',
  batchRun: 'TESTBAY_BATCH_RUN',
} as const;

/** Longest testTimeoutMs or batchTimeoutMs a spec may ask for (and the cap of a scaled one): 7 days. */
export const MAX_BATCH_TIMEOUT_MS = 7 * 24 * 60 * 60_000;
/** What a scaled batch deadline allows beyond its tests' own limits: starting the runner, its setup. */
export const BATCH_START_ALLOWANCE_MS = 60_000;

export interface BatchTimeouts {
  testTimeoutMs: number;
  /** the spec's batchTimeoutMs, or the scaled deadline of a full batch */
  batchTimeoutMs: number;
  /** set when the spec gave batchTimeoutMs: every batch gets exactly that */
  batchTimeoutGiven?: boolean;
}

/**
 * A batch's deadline: the spec's batchTimeoutMs when it gave one, else scaled to the batch's
 * size (every test at its testTimeoutMs, plus the runner's start), so a batch of one
 * isolated test does not get the deadline of a full batch. Never above MAX_BATCH_TIMEOUT_MS.
 */
export function batchTimeoutFor(run: BatchTimeouts, size: number): number {
  if (run.batchTimeoutGiven) return Math.min(run.batchTimeoutMs, MAX_BATCH_TIMEOUT_MS);
  return Math.min(Math.max(1, size) * run.testTimeoutMs + BATCH_START_ALLOWANCE_MS, MAX_BATCH_TIMEOUT_MS);
}

/** Node's timers fire at once above this (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay a timer can take: at least 0, at most MAX_TIMER_MS. */
export function timerMs(ms: number): number {
  return Math.max(0, Math.min(Math.round(ms), MAX_TIMER_MS));
}

/** What listTests did: the ids stay on the host (listFile), in chunks the workflow moves to the result store. */
export interface ListedTests {
  count: number;
  /** where the host keeps them, one per line, for readListedTests */
  listFile: string;
  /** line offsets where each chunk starts, each chunk at most LIST_CHUNK_BYTES */
  chunks: { offset: number; count: number }[];
}

/** One chunk of listed ids stays well below Temporal's payload limit (2 MB), even with long ids. */
export const LIST_CHUNK_BYTES = 256 * 1024;
/** At most this many tests in a batch run, listed or given. */
export const MAX_BATCH_TESTS = 100_000;
