/**
 * @module The submission's re-scheduling rule: after an attempt of a recipe set ends,
 * whether it gets another attempt on other hosts (a clone, the hosts its jobs aborted on
 * excluded) and, when not, what the attempt says about why not. Pure: the submission
 * workflow asks, and carries out the answer.
 */
import { AbortCause, isRescheduled, type JobResult } from './outcome.js';

/** A job of the attempt that ended, as the rule needs it. */
export interface AttemptJob {
  name: string;
  result?: JobResult | undefined;
  hostId?: string | undefined;
}

export type RescheduleDecision =
  /** another attempt, with these hosts excluded beside those excluded before */
  | { kind: 'retry'; exclude: string[] }
  /**
   * no other attempt; `notRetried` goes on the attempt, `note` on its aborted jobs'
   * reasons (both absent when there is nothing to explain: it passed, or was cancelled)
   */
  | { kind: 'stop'; notRetried?: string; note?: string };

const names = (jobs: readonly AttemptJob[]) => jobs.map((j) => `\`${j.name}\``).join(', ');
const stopWith = (notRetried: string, note = notRetried): RescheduleDecision => ({ kind: 'stop', notRetried, note });

/**
 * Decides after attempt `attempt` (1 for the first of this submission) of a recipe set
 * with `maxRetries` re-schedules allowed. Aborts that another host may not repeat are
 * re-scheduled; a failed test never is (it is information, not an accident), nor results
 * too large (another host would refuse them too), nor an unexpected error (internal).
 */
export function decideReschedule(
  jobs: readonly AttemptJob[],
  attempt: number,
  maxRetries: number,
  cancelled: boolean,
): RescheduleDecision {
  if (cancelled) return { kind: 'stop' };
  const aborted = jobs.filter((j) => j.result !== undefined && isRescheduled(j.result));
  const retriesLeft = attempt <= maxRetries;
  const tooLarge = jobs.filter((j) => j.result?.kind === 'aborted' && j.result.cause === AbortCause.ResultsTooLarge);
  if (tooLarge.length > 0) {
    return retriesLeft
      ? stopWith(
          `not re-scheduled: ${names(tooLarge)} wrote more results than a host takes (results-too-large), which another host would refuse too`,
        )
      : { kind: 'stop' };
  }
  if (aborted.length === 0) {
    const internal = jobs.filter((j) => j.result?.kind === 'aborted' && j.result.cause === AbortCause.Internal);
    return retriesLeft && internal.length > 0
      ? stopWith(
          `not re-scheduled: ${names(internal)} aborted with an unexpected error (internal), which is not retried`,
        )
      : { kind: 'stop' };
  }
  const failed = jobs.filter((j) => j.result?.kind === 'failed');
  if (failed.length > 0 && retriesLeft)
    return stopWith(`not re-scheduled: ${names(failed)} failed, and a failed test is never re-run`);
  if (!retriesLeft) {
    return maxRetries > 0
      ? stopWith(
          `not re-scheduled: maxRetries (${maxRetries}) reached after ${attempt} attempts`,
          `gave up after ${attempt} attempts (maxRetries ${maxRetries})`,
        )
      : { kind: 'stop' };
  }
  return { kind: 'retry', exclude: aborted.flatMap((j) => (j.hostId !== undefined ? [j.hostId] : [])) };
}

/** Why a clone was dropped: the scheduler found no host left for it. */
export const noHostForClone = (denied: string) => `not re-scheduled: ${denied}`;

/** An aborted job's reason with the note of why there is no further attempt. */
export function withNote(result: JobResult, note: string): JobResult {
  return result.kind === 'aborted' ? { ...result, reason: `${result.reason}; ${note}` } : result;
}
