/**
 * @module Restart: which jobs run again when a person restarts one finished job. The job,
 * and unless told not to, everything that depends on it (startAfter and directly-chained
 * children, transitively); then whatever those need to be placed: chain ancestors (a chain
 * only makes sense from its start) and parallel partners (they start together).
 */
import type { Job, Submission } from './job.js';
import type { SubmissionView } from './views.js';

/** What a restarted job carries over from the job it re-runs. */
export interface RestartHistory {
  /** the attempt the job reached: the restart's first attempt is the next one */
  attempt: number;
  /** hosts its attempts ran on, first attempt first: the restart prefers other hosts */
  hosts: string[];
}

/**
 * For each job a restart re-runs: the highest attempt and the hosts of every attempt of
 * that job in the submission it comes from (jobs that never ran there are left out).
 */
export function restartHistory(
  view: Pick<SubmissionView, 'jobs'>,
  names: readonly string[],
): Record<string, RestartHistory> {
  const history: Record<string, RestartHistory> = {};
  for (const name of names) {
    const attempts = view.jobs.filter((j) => j.name === name).sort((a, b) => a.attempt - b.attempt);
    if (attempts.length === 0) continue;
    history[name] = {
      attempt: attempts.at(-1)!.attempt,
      hosts: [...new Set(attempts.flatMap((j) => (j.hostId === undefined ? [] : [j.hostId])))],
    };
  }
  return history;
}

export function selectRestart(submission: Submission, jobName: string, withChildren: boolean): Submission {
  if (!submission.jobs.some((j) => j.name === jobName)) throw new Error(`no job ${jobName}`);
  const chosen = new Set<string>([jobName]);
  if (withChildren) {
    const queue = [jobName];
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      for (const j of submission.jobs) {
        if (!chosen.has(j.name) && (j.startAfter.includes(name) || j.startDirectlyAfter === name)) {
          chosen.add(j.name);
          queue.push(j.name);
        }
      }
    }
  }
  return subset(
    submission,
    withPlacementNeeds(submission, chosen),
    `restart of ${jobName}${submission.name ? ` (${submission.name})` : ''}`,
  );
}

/**
 * "Rerun what failed": every failed, aborted and skipped job of a submission (its latest
 * attempts) as one new submission. A job that passed runs again only when a job to rerun
 * needs it to be placed: the chain before it (a chain runs from its start) and its
 * parallel partners; `startAfter` parents that passed are not rerun, and the edge to them
 * is dropped. Returns undefined when nothing failed.
 */
export function selectFailedRerun(submission: Submission, view: Pick<SubmissionView, 'jobs'>): Submission | undefined {
  const latest = new Map<string, { attempt: number; kind: string }>();
  for (const j of view.jobs) {
    const seen = latest.get(j.name);
    if (!seen || j.attempt > seen.attempt) latest.set(j.name, { attempt: j.attempt, kind: j.result?.kind ?? 'none' });
  }
  const failed = submission.jobs
    .filter((j) => ['failed', 'aborted', 'skipped'].includes(latest.get(j.name)?.kind ?? 'none'))
    .map((j) => j.name);
  if (failed.length === 0) return undefined;
  return subset(
    submission,
    withPlacementNeeds(submission, new Set(failed)),
    `rerun of what failed${submission.name ? ` in ${submission.name}` : ''}`,
  );
}

/** Adds what the chosen jobs need to be placed: their chain ancestors and parallel partners. */
function withPlacementNeeds(submission: Submission, chosen: Set<string>): Set<string> {
  const byName = new Map(submission.jobs.map((j) => [j.name, j]));
  const needs = (j: Job): string[] => [
    ...(j.startDirectlyAfter !== undefined ? [j.startDirectlyAfter] : []),
    ...j.parallelWith,
    ...submission.jobs.filter((k) => k.parallelWith.includes(j.name)).map((k) => k.name),
  ];
  const all = new Set(chosen);
  const queue = [...all];
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    for (const n of needs(byName.get(name)!)) {
      if (!all.has(n)) {
        all.add(n);
        queue.push(n);
      }
    }
  }
  return all;
}

/** The chosen jobs as a submission of their own: edges to jobs left out are dropped. */
function subset(submission: Submission, chosen: Set<string>, name: string): Submission {
  return {
    name,
    jobs: submission.jobs
      .filter((j) => chosen.has(j.name))
      .map((j) => ({
        ...j,
        startAfter: j.startAfter.filter((n) => chosen.has(n)),
        parallelWith: j.parallelWith.filter((n) => chosen.has(n)),
      })),
  };
}
