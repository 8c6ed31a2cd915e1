/**
 * @module Carry-over (openQA's rule, review.ts): when a job fails, its scenario's previous
 * failure is looked at; if that one carried bug references in its comments and failed the
 * same tests, the new failure gets a comment "carried over from JOB" with them. Written
 * by the API as the job's record is sealed, once (a retried finish adds nothing).
 */
import { parseJobId } from '../domain/ids.js';
import { bugRefsOf, carryOver } from '../domain/review.js';
import type { JobRecord, ResultStore } from './store/result-store.js';
import type { Comment } from './store/review-store.js';

/** Who carry-over comments are from. */
export const CARRY_OVER_AUTHOR = 'testbay';

const failedTests = (job: JobRecord) =>
  (job.tests ?? [])
    .filter((t) => t.status === 'failed' || t.status === 'error')
    .map((t) => (t.classname ? `${t.classname}.${t.name}` : t.name));

/** Applies the carry-over rule to a job that has just failed; returns the comment it wrote, if any. */
export async function carryOverFailure(
  store: ResultStore,
  job: JobRecord,
  bugRefs: Record<string, string>,
): Promise<Comment | undefined> {
  // A batch of a batch run (`<submission>.<run>.<batch>`) holds whichever tests it was given: not a run of a scenario's tests.
  if (
    job.result?.kind !== 'failed' ||
    !job.scenario ||
    parseJobId(job.id).kind !== 'job' ||
    Object.keys(bugRefs).length === 0
  )
    return undefined;
  if ((await store.review.listComments(job.id)).some((c) => c.carriedOverFrom)) return undefined;
  const [previous] = await store.review.scenarioRuns(job.scenario, { limit: 1, result: 'failed', before: job.id });
  if (!previous) return undefined;
  const [record, comments] = await Promise.all([
    store.getJob(previous.jobId),
    store.review.listComments(previous.jobId),
  ]);
  if (!record) return undefined;
  const carried = carryOver(
    { jobId: job.id, failedTests: failedTests(job) },
    {
      jobId: previous.jobId,
      failedTests: failedTests(record),
      bugRefs: comments.flatMap((c) => bugRefsOf(c.text, bugRefs)),
    },
  );
  if (!carried) return undefined;
  return store.review.addComment({
    targetId: job.id,
    author: CARRY_OVER_AUTHOR,
    text: carried.text,
    carriedOverFrom: carried.from,
  });
}
