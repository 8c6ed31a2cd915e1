/**
 * @module What crosses between the batch-run workflow and a host for one batch: the
 * assignment (which tests, under which lease) and what came back (the results, and how
 * the batch ended). Also what the runner of a batch is told and may say.
 */
import type { BatchEndKind, TestReport } from './batch-ledger.js';

export interface BatchAssignment {
  /** the batch's own record id in the result store: `<submission>.<run>.<batch>` */
  batchId: string;
  batchRunName: string;
  submissionId: string;
  hostId: string;
  leaseToken: string;
  tests: string[];
  runner: { command: string[] };
  settings: Record<string, string>;
  testTimeoutMs: number;
  batchTimeoutMs: number;
}

/** Heartbeat details of a running batch: every finished result so far, and the test running now. */
export interface BatchProgress {
  results: TestReport[];
  current?: string;
}

export interface BatchOutcome extends BatchProgress {
  end: { kind: BatchEndKind; reason: string };
  exitCode: number | null;
  durationMs: number;
}

/**
 * The batch runner contract, beyond the job runner's: the test ids are in the file
 * TESTBAY_TESTS_FILE (one per line); on fd TESTBAY_PROGRESS_FD (or TESTBAY_PROGRESS_FILE)
 * the runner writes `{"testStarted": "<id>"}` when a test begins and `{"test": {"name":
 * "<id>", "status": "passed"|"failed"|"error"|"skipped", "durationMs": n, "message": "…"}}`
 * when it ends. Tests it reports no result for are requeued; the one running when it died
 * is isolated.
 */
export const BATCH_ENV = { testsFile: 'TESTBAY_TESTS_FILE', batch: 'TESTBAY_BATCH', batchRun: 'TESTBAY_BATCH_RUN' } as const;
