/**
 * @module Control activities: the workflows' writes to the result store, run as local
 * activities in the control worker. They go through the API (the store's one writer),
 * so the job record and its lease token are where uploads are checked.
 */
import type { TestbayClient } from '../../api/client.js';
import type { OpenJobInput, SubmissionRecord } from '../../api/store/result-store.js';
import type { JobResult } from '../../domain/outcome.js';
import type { SubmissionView } from '../../domain/views.js';

export interface ControlDeps {
  api: TestbayClient;
}

export function createControlActivities({ api }: ControlDeps) {
  return {
    /** Opens the job's record under its lease: from now on only this lease may upload. */
    async openJob(input: OpenJobInput): Promise<void> {
      await api.openJob(input);
    },
    /** Records the result and seals the job: later uploads (a zombie host) are refused. */
    async finishJob(input: { jobId: string; leaseToken: string; result: JobResult }): Promise<void> {
      await api.finishJob(input.jobId, input.leaseToken, input.result);
    },
    /** Creates the store's record of a submission the API did not create (a health check). */
    async registerSubmission(record: SubmissionRecord): Promise<void> {
      await api.registerSubmission(record);
    },
    /** Keeps the final job table beyond Temporal's retention. */
    async recordSubmission(view: SubmissionView): Promise<void> {
      await api.recordSubmission(view);
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
