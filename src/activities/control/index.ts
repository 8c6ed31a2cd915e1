/**
 * @module Control activities: the workflows' writes to the result store, run as local
 * activities in the control worker. They go through the API (the store's one writer),
 * so the job record and its lease token are where uploads are checked.
 */
import { ApplicationFailure, log } from '@temporalio/activity';
import { ApiError, type TestbayClient } from '../../api/client.js';
import { ErrorType } from '../../domain/errors.js';
import type { OpenJobRequest, SubmissionRecord } from '../../api/store/result-store.js';
import type { LateReport, VerdictRecord } from '../../domain/batch-ledger.js';
import type { JobResult } from '../../domain/outcome.js';
import type { SubmissionView } from '../../domain/views.js';

export interface ControlDeps {
  api: TestbayClient;
}

/**
 * A refusal the API will repeat (bad request, bad token) is a bug, not a blip: fail for
 * good rather than retry forever. Anything else (the API restarting) is retried.
 */
async function refusalsAreFinal<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof ApiError && [400, 401, 403, 413].includes(err.status)) {
      throw ApplicationFailure.create({
        type: ErrorType.InvalidInput,
        message: `the API refused: ${err.message}`,
        nonRetryable: true,
      });
    }
    throw err;
  }
}

export function createControlActivities({ api: client }: ControlDeps) {
  const api = new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function'
        ? (...args: unknown[]) => refusalsAreFinal((value as (...a: unknown[]) => Promise<unknown>).apply(target, args))
        : value;
    },
  });
  return {
    /**
     * Opens the job's record under its lease; returns its upload token, sealed (only the
     * job's host can open it): from now on only uploads with that token are taken.
     */
    async openJob(input: OpenJobRequest): Promise<string> {
      return (await api.openJob(input)).uploadToken;
    },
    /** Opens several job records at once (a chain opens all of its jobs when it starts): job id → sealed upload token. */
    async openJobs(inputs: OpenJobRequest[]): Promise<Record<string, string>> {
      return Object.fromEntries(
        await Promise.all(inputs.map(async (input) => [input.jobId, (await api.openJob(input)).uploadToken] as const)),
      );
    },
    /** Finishes several job records at once. */
    async finishJobs(inputs: { jobId: string; leaseId: string; result: JobResult }[]): Promise<void> {
      await Promise.all(inputs.map((input) => api.finishJob(input.jobId, input.leaseId, input.result)));
    },
    /** Records the result and seals the job: later uploads (a zombie host) are refused. */
    async finishJob(input: { jobId: string; leaseId: string; result: JobResult }): Promise<void> {
      await api.finishJob(input.jobId, input.leaseId, input.result);
    },
    /** Creates the store's record of a submission the API did not create (a health check). */
    async registerSubmission(record: SubmissionRecord): Promise<void> {
      await api.registerSubmission(record);
    },
    /**
     * Adds a chunk of the test ids a batch run's testsCommand listed at `offset`. Idempotent:
     * a retried chunk replaces what it wrote before, never appends twice.
     */
    async appendBatchTests(input: {
      submissionId: string;
      runName: string;
      offset: number;
      tests: string[];
    }): Promise<void> {
      const before: string[] = [];
      while (before.length < input.offset) {
        const page = await api.getBatchTests(
          input.submissionId,
          input.runName,
          before.length,
          Math.min(100_000, input.offset - before.length),
        );
        if (page.length === 0)
          throw new Error(
            `batch run ${input.runName} of ${input.submissionId} has ${before.length} listed tests stored, not ${input.offset}`,
          );
        before.push(...page);
      }
      await api.putBatchTests(input.submissionId, input.runName, [...before.slice(0, input.offset), ...input.tests]);
    },
    /** A slice of a batch run's tests: the workflow never holds them all at once. */
    async loadBatchTests(input: {
      submissionId: string;
      runName: string;
      offset: number;
      limit: number;
    }): Promise<string[]> {
      return api.getBatchTests(input.submissionId, input.runName, input.offset, input.limit);
    },
    /**
     * Keeps verdicts of a batch run beyond the workflow, as they settle: each call is one more
     * part at key `offset` (the verdicts stored before it), so a retry rewrites its own part.
     */
    async recordBatchVerdicts(input: {
      submissionId: string;
      runJobId: string;
      offset: number;
      verdicts: VerdictRecord[];
    }): Promise<void> {
      await api.putBatchVerdicts(input.runJobId, input.offset, input.verdicts);
    },
    /** Keeps a fenced batch's results that came after its shard's verdicts were stored: history beside them. */
    async recordLateReport(input: { runJobId: string; report: LateReport }): Promise<void> {
      await api.addLateReport(input.runJobId, input.report);
    },
    /** Asks the API to end the submissions whose workflow is gone (the reconcile schedule). */
    async reconcileSubmissions(): Promise<string[]> {
      return (await api.reconcile()).ended;
    },
    /**
     * Keeps the final job table beyond Temporal's retention. It is written once: when the
     * store already holds another (the submission was reconciled as aborted after its
     * workflow was reset or terminated), that one stands.
     */
    async recordSubmission(view: SubmissionView): Promise<void> {
      try {
        await api.recordSubmission(view);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 409)) throw err;
        log.warn('the submission already has a final view; this one is not recorded', { id: view.id });
      }
    },
    /** One retention pass of the result store (the testbay-retention schedule's workflow). */
    async applyRetention() {
      const report = await api.applyRetention();
      log.info('retention: deleted what was past its time', { ...report, deletedIds: report.deletedIds.slice(0, 20) });
      return report;
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
