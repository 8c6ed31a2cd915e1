/**
 * @module What people see of a submission: the job table with states, results, hosts,
 * waiting reasons and lineage (clonedFrom). Built by the submission workflow, enriched
 * with live progress by the API, shown by the CLI and the dashboard.
 */
import type { z } from 'zod';
import { AbortCause, worstOf, type JobResult } from './outcome.js';
import type { batchRun, testNote } from './wire/batch-runs.js';
import type { job } from './wire/jobs.js';
import type { recipeSet, submission } from './wire/submissions.js';

export const JOB_STATES = ['waiting', 'scheduled', 'provisioning', 'running', 'uploading', 'done'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** A job as its submission shows it (wire/jobs.ts is the one source). */
export type JobView = z.infer<typeof job>;

export type RecipeSetState = RecipeSetView['state'];

/** A recipe set: its attempt, state, jobs and hosts; `notRetried` says why an aborted set was not re-scheduled. */
export type RecipeSetView = z.infer<typeof recipeSet>;

export type TestNote = z.infer<typeof testNote>;

/** A batch run's progress: counts by verdict, its hosts and batches, and the notes of its tests. */
export type BatchRunView = z.infer<typeof batchRun>;

/** What people see of a submission; the control worker writes its final view (PUT /internal/submissions/:id). */
export type SubmissionView = z.infer<typeof submission>;

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
  const jobs = last.jobs.map((j): JobView =>
    j.state === 'done' && j.result ? j : { ...j, state: 'done', result: aborted },
  );
  const batchRuns = last.batchRuns?.map((r): BatchRunView =>
    r.state === 'done' ? r : { ...r, state: 'done', result: 'aborted', reason },
  );
  const recipeSets = last.recipeSets.map((s): RecipeSetView => ({ ...s, state: 'done' }));
  const { notice: _notice, ...rest } = last;
  const result = worstOf([
    ...finalResults(jobs).map((r) => r.kind),
    ...(batchRuns ?? []).map((r) => r.result ?? 'aborted'),
  ]);
  return { ...rest, state: 'done', result, endedAt, jobs, recipeSets, ...(batchRuns ? { batchRuns } : {}) };
}
