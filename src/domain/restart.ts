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
export function restartHistory(view: Pick<SubmissionView, 'jobs'>, names: readonly string[]): Record<string, RestartHistory> {
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
  const byName = new Map(submission.jobs.map((j) => [j.name, j]));
  if (!byName.has(jobName)) throw new Error(`no job ${jobName}`);
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
  // What the chosen jobs need to be placed: their chain ancestors and parallel partners.
  const needs = (j: Job): string[] => [
    ...(j.startDirectlyAfter !== undefined ? [j.startDirectlyAfter] : []),
    ...j.parallelWith,
    ...submission.jobs.filter((k) => k.parallelWith.includes(j.name)).map((k) => k.name),
  ];
  const queue = [...chosen];
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    for (const n of needs(byName.get(name)!)) {
      if (!chosen.has(n)) {
        chosen.add(n);
        queue.push(n);
      }
    }
  }
  return {
    name: `restart of ${jobName}${submission.name ? ` (${submission.name})` : ''}`,
    jobs: submission.jobs
      .filter((j) => chosen.has(j.name))
      .map((j) => ({ ...j, startAfter: j.startAfter.filter((n) => chosen.has(n)), parallelWith: j.parallelWith.filter((n) => chosen.has(n)) })),
  };
}
