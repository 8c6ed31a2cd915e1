/**
 * @module The results a recipe set ends with, pure: every job the same result when no chain
 * ran (`everyJobEndsAs`: a denial, the queue timeout), a stop before any host was leased
 * (`cancelledBeforeStart`), or what its chains returned (`resultsOfChains`). The workflow
 * (recipeSetWorkflow) decides which.
 */
import { AbortCause, partnerDidNotPass, type JobResult } from './outcome.js';

interface RecipeJobs {
  jobs: readonly { id: string; name: string; preSkipped?: string }[];
}

/** Every job ends with `result`, except those that were never to run (skipped, with their reason). */
export function everyJobEndsAs(recipes: readonly RecipeJobs[], result: JobResult): Record<string, JobResult> {
  return Object.fromEntries(
    recipes
      .flatMap((r) => r.jobs)
      .map((j) => [j.id, j.preSkipped !== undefined ? { kind: 'skipped', reason: j.preSkipped } : result]),
  );
}

/** Everything cancelled before any host was leased: the named chain cancelled, partners skipped. */
export function cancelledBeforeStart(
  recipes: readonly RecipeJobs[],
  reason: string,
  jobId?: string,
): Record<string, JobResult> {
  const target = recipes.findIndex((r) => r.jobs.some((j) => j.id === jobId));
  const name = recipes[target]?.jobs.find((j) => j.id === jobId)?.name;
  const results: Record<string, JobResult> = {};
  recipes.forEach((r, i) => {
    for (const j of r.jobs) {
      results[j.id] =
        target === -1 || i === target
          ? { kind: 'cancelled', reason }
          : { kind: 'skipped', reason: partnerDidNotPass(name ?? '', 'cancelled') };
    }
  });
  return results;
}

/**
 * Every job's result from its recipe's chain (on `hosts[i]`); a job whose chain failed or
 * returned nothing for it is aborted, saying why.
 */
export function resultsOfChains(
  recipes: readonly RecipeJobs[],
  hosts: readonly string[],
  settled: readonly PromiseSettledResult<{ results: Record<string, JobResult> }>[],
): Record<string, JobResult> {
  const results: Record<string, JobResult> = {};
  settled.forEach((s, i) => {
    const recipe = recipes[i]!;
    const chainResults: Record<string, JobResult> = s.status === 'fulfilled' ? s.value.results : {};
    for (const job of recipe.jobs) {
      results[job.id] = chainResults[job.id] ?? {
        kind: 'aborted',
        cause: AbortCause.Internal,
        reason: `chain workflow on ${hosts[i]!} failed: ${s.status === 'rejected' ? String(s.reason) : 'no result'}`,
      };
    }
  });
  return results;
}
