/**
 * @module What people see of a submission: the job table with states, results, hosts,
 * waiting reasons and lineage (clonedFrom). Built by the submission workflow, enriched
 * with live progress by the API, shown by the CLI and the dashboard.
 */
import type { LedgerCounts } from './batch-ledger.js';
import { AbortCause, worstOf, type JobResult, type ResultKind } from './outcome.js';
import type { Progress } from './job-run.js';

export const JOB_STATES = ['waiting', 'scheduled', 'provisioning', 'running', 'uploading', 'done'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface JobView {
  id: string;
  name: string;
  /** recipe set number within the submission (clones get new numbers) */
  setNumber: number;
  attempt: number;
  workerClass: string;
  state: JobState;
  result?: JobResult;
  hostId?: string;
  /** the job id of the attempt this one re-runs */
  clonedFrom?: string;
  /** the job id of the attempt that re-ran this one */
  retriedAs?: string;
  waitingReason?: string;
  startedAt?: string;
  endedAt?: string;
  progress?: Progress;
}

export type RecipeSetState = 'waiting' | 'leasing' | 'running' | 'done';

export interface RecipeSetView {
  number: number;
  /** index of the recipe set in the plan; clones share it */
  planIndex: number;
  attempt: number;
  state: RecipeSetState;
  jobIds: string[];
  hosts: string[];
  excludedHosts: string[];
  clonedFrom?: number;
  /** why an aborted set was not re-scheduled */
  notRetried?: string;
  workflowId: string;
}

export interface TestNote {
  test: string;
  reason: string;
}

export interface BatchRunView {
  /** job-like id `<submission>.<number>` (logs of its batches: `<submission>.<number>.<batch>`) */
  id: string;
  name: string;
  state: 'waiting' | 'listing' | 'running' | 'done';
  result?: ResultKind;
  /** why the run ended early or stopped requeuing */
  reason?: string;
  counts: LedgerCounts;
  hosts: string[];
  batches: number;
  lostBatches: number;
  /** which tests ran in a batch of their own, and why (first 200) */
  isolated: TestNote[];
  /** tests without a result after every attempt, with every attempt's host, time and reason (first 200) */
  lost: TestNote[];
  /** failed tests and why (first 200) */
  failed: TestNote[];
  flaky: string[];
  /** the batches out on hosts now */
  running: { batchId: string; hostId: string; tests: number; current?: string }[];
  workflowId: string;
}

export interface SubmissionView {
  id: string;
  name?: string;
  state: 'running' | 'done';
  result?: ResultKind;
  createdAt: string;
  endedAt?: string;
  workflowId: string;
  jobs: JobView[];
  recipeSets: RecipeSetView[];
  batchRuns?: BatchRunView[];
  /** set when the view could not be read live (Temporal unreachable) */
  notice?: string;
  /** this submission re-runs a job of another one */
  restartOf?: { submissionId: string; jobId: string };
  /** submissions that re-ran jobs of this one */
  restartedAs?: string[];
  /** kept beyond the result store's retention until unmarked */
  keep?: boolean;
  /** the token name that submitted it (absent for submissions from before it was kept) */
  submittedBy?: string;
}

/** The latest attempt of each job name: what a submission's result is made of. */
export function latestAttempts(jobs: readonly JobView[]): JobView[] {
  const latest = new Map<string, JobView>();
  for (const j of jobs) {
    const seen = latest.get(j.name);
    if (!seen || j.attempt > seen.attempt) latest.set(j.name, j);
  }
  return [...latest.values()];
}

export function finalResults(jobs: readonly JobView[]): JobResult[] {
  return latestAttempts(jobs).flatMap((j) => (j.result ? [j.result] : []));
}

/**
 * The final view of a submission whose workflow ended without finishing it (terminated,
 * timed out, failed): what had not ended is aborted (`internal`) with the workflow's own
 * failure as the reason; what had ended keeps its result.
 */
export function abortedView(last: SubmissionView, reason: string, endedAt: string): SubmissionView {
  const aborted: JobResult = { kind: 'aborted', cause: AbortCause.Internal, reason };
  const jobs = last.jobs.map((j): JobView => (j.state === 'done' && j.result ? j : { ...j, state: 'done', result: aborted }));
  const batchRuns = last.batchRuns?.map((r): BatchRunView => (r.state === 'done' ? r : { ...r, state: 'done', result: 'aborted', reason }));
  const recipeSets = last.recipeSets.map((s): RecipeSetView => ({ ...s, state: 'done' }));
  const { notice: _notice, ...rest } = last;
  const result = worstOf([...finalResults(jobs).map((r) => r.kind), ...(batchRuns ?? []).map((r) => r.result ?? 'aborted')]);
  return { ...rest, state: 'done', result, endedAt, jobs, recipeSets, ...(batchRuns ? { batchRuns } : {}) };
}
