/**
 * @module Names of things in Temporal: task queues and workflow ids that read well in
 * Temporal Web (`sub-<id>`, `rs-<id>-<n>`, `chain-<id>-<n>-<host>`), and the id formats
 * of submissions, jobs and hosts.
 */

export const CONTROL_TASK_QUEUE = 'testbay-control';
export const SCHEDULER_WORKFLOW_ID = 'testbay-scheduler';
/** the Temporal Schedule of the result store's daily cleanup */
export const RETENTION_SCHEDULE_ID = 'testbay-retention';

/** A host's own task queue: only that host's worker polls it. */
export const hostTaskQueue = (hostId: string) => `host/${hostId}`;

export const submissionWorkflowId = (submissionId: string) => `sub-${submissionId}`;
export const recipeSetWorkflowId = (submissionId: string, setNumber: number) => `rs-${submissionId}-${setNumber}`;
export const chainWorkflowId = (submissionId: string, setNumber: number, hostId: string) =>
  `chain-${submissionId}-${setNumber}-${hostId}`;

/** Job ids are `<submissionId>.<n>`: n counts every job of the submission, clones included. */
export const jobId = (submissionId: string, n: number) => `${submissionId}.${n}`;
export const submissionOfJob = (id: string) => id.slice(0, id.indexOf('.'));
/** A batch of a batch run has its own record: `<submission>.<run number>.<batch number>`. */
export const batchId = (runJobId: string, n: number) => `${runJobId}.${n}`;
export const batchRunWorkflowId = (submissionId: string, runNumber: number) => `batch-${submissionId}-${runNumber}`;

export const HOST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const SUBMISSION_ID_PATTERN = /^[a-z0-9]{6,32}$/;
export const JOB_ID_PATTERN = /^[a-z0-9]{6,32}\.[0-9]{1,6}(\.[0-9]{1,9})?$/;
