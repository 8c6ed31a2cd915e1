/**
 * @module The submission's job table and the rules over it, pure, for the submission
 * workflow to call: attempts of recipe sets added (clones numbered after every job so
 * far), results recorded, the jobs a parent that did not pass leaves skipped, the
 * results of a set stopped before it started, why a job waits, a dropped clone, and a
 * batch run before its workflow reports. The workflow holds one table and carries out
 * the rest (children, signals, records).
 */
import { jobId, recipeSetWorkflowId, batchRunWorkflowId } from './ids.js';
import { AbortCause, parentDidNotPass, partnerDidNotPass, type JobResult } from './outcome.js';
import { initialJobNumbers, type Plan, type PlanBatchRun, type PlanRecipeSet } from './plan.js';
import { noHostForClone, withNote } from './reschedule.js';
import { latestAttempts, type BatchRunView, type JobView, type RecipeSetView } from './views.js';

export interface SubmissionTable {
  submissionId: string;
  plan: Plan;
  jobs: JobView[];
  sets: RecipeSetView[];
  /** the plan's job numbers; clones take the next numbers */
  firstNumbers: Map<string, number>;
  nextJob: number;
  /** a restart: job name → the job id it re-runs */
  lineage?: Record<string, string> | undefined;
}

export function newTable(submissionId: string, plan: Plan, lineage?: Record<string, string>): SubmissionTable {
  return {
    submissionId,
    plan,
    jobs: [],
    sets: [],
    firstNumbers: initialJobNumbers(plan),
    nextJob: plan.jobs.length + 1,
    lineage,
  };
}

const planJob = (t: SubmissionTable, name: string) => t.plan.jobs.find((j) => j.name === name)!;
export const jobById = (t: SubmissionTable, id: string) => t.jobs.find((j) => j.id === id)!;
/** The latest attempt of a job, by name. */
export const latestOf = (t: SubmissionTable, name: string): JobView | undefined =>
  latestAttempts(t.jobs.filter((j) => j.name === name))[0];

/** Adds an attempt of a recipe set, the plan's first one or a clone of `clonedFrom` (its jobs point at each other). */
export function addAttempt(
  t: SubmissionTable,
  planSet: PlanRecipeSet,
  attempt: number,
  clonedFrom?: RecipeSetView,
): RecipeSetView {
  const number = clonedFrom ? t.sets.length + 1 : planSet.index + 1;
  const setView: RecipeSetView = {
    number,
    planIndex: planSet.index,
    attempt,
    state: 'waiting',
    jobIds: [],
    hosts: [],
    excludedHosts: [],
    workflowId: recipeSetWorkflowId(t.submissionId, number),
  };
  if (clonedFrom) setView.clonedFrom = clonedFrom.number;
  for (const name of planSet.jobs) {
    const pj = planJob(t, name);
    const id = jobId(t.submissionId, clonedFrom ? t.nextJob++ : t.firstNumbers.get(name)!);
    const job: JobView = { id, name, setNumber: number, attempt, workerClass: pj.workerClass, state: 'waiting' };
    const previous = clonedFrom ? t.jobs.find((j) => j.setNumber === clonedFrom.number && j.name === name) : undefined;
    if (previous) {
      job.clonedFrom = previous.id;
      previous.retriedAs = id;
    } else if (t.lineage?.[name] !== undefined) {
      job.clonedFrom = t.lineage[name];
    }
    t.jobs.push(job);
    setView.jobIds.push(id);
  }
  t.sets.push(setView);
  t.sets.sort((a, b) => a.number - b.number);
  return setView;
}

/** An attempt's hosts are leased: its jobs are scheduled, each on its recipe's host. */
export function markLeased(t: SubmissionTable, setNumber: number, hosts: string[]): void {
  const setView = t.sets.find((s) => s.number === setNumber);
  if (!setView) return;
  setView.state = 'running';
  setView.hosts = hosts;
  t.plan.recipeSets[setView.planIndex]!.recipes.forEach((recipeIndex, i) => {
    for (const name of t.plan.recipes[recipeIndex]!.jobs) {
      const job = t.jobs.find((j) => j.setNumber === setNumber && j.name === name);
      if (job && job.state === 'waiting') {
        job.state = 'scheduled';
        job.hostId = hosts[i]!;
      }
    }
  });
}

/** An attempt ended: each job's result (a job without one aborted, `internal`). */
export function finishAttempt(
  t: SubmissionTable,
  setView: RecipeSetView,
  results: Record<string, JobResult>,
  hosts: string[],
): void {
  setView.state = 'done';
  if (hosts.length > 0) setView.hosts = hosts;
  for (const id of setView.jobIds) {
    const job = jobById(t, id);
    job.state = 'done';
    job.result = results[id] ?? { kind: 'aborted', cause: AbortCause.Internal, reason: 'no result reported' };
  }
}

/** Says on the aborted jobs of an attempt why there is no further attempt. */
export function noteOnAborted(t: SubmissionTable, setView: RecipeSetView, note: string): void {
  for (const id of setView.jobIds) {
    const job = jobById(t, id);
    if (job.result) job.result = withNote(job.result, note);
  }
}

/** No host is left for a clone: it goes, and the attempt it would have retried says why. */
export function dropClone(t: SubmissionTable, clone: RecipeSetView, denied: string): void {
  const dropped = new Set(clone.jobIds);
  t.jobs.splice(0, t.jobs.length, ...t.jobs.filter((j) => !dropped.has(j.id)));
  t.sets.splice(t.sets.indexOf(clone), 1);
  const original = t.sets.find((s) => s.number === clone.clonedFrom)!;
  for (const j of t.jobs) if (j.retriedAs !== undefined && dropped.has(j.retriedAs)) delete j.retriedAs;
  original.notRetried = noHostForClone(denied);
  noteOnAborted(t, original, original.notRetried);
}

/** Jobs of a set whose startAfter parents did not all pass, with the reason; partners of a skipped root too. */
export function preSkipped(t: SubmissionTable, planSet: PlanRecipeSet): Map<string, string> {
  const skipped = new Map<string, string>();
  for (const name of planSet.jobs) {
    for (const parent of planJob(t, name).startAfter) {
      const r = latestOf(t, parent)?.result;
      if (r && r.kind !== 'passed') {
        skipped.set(name, parentDidNotPass(parent, r.kind));
        break;
      }
    }
  }
  // Partners start together: if the first job of one recipe cannot run, none of the set runs.
  if (planSet.recipes.length > 1) {
    const root = planSet.recipes.map((r) => t.plan.recipes[r]!.jobs[0]!).find((n) => skipped.has(n));
    if (root !== undefined) {
      for (const name of planSet.jobs) if (!skipped.has(name)) skipped.set(name, partnerDidNotPass(root, 'skipped'));
    }
  }
  return skipped;
}

/** The results of an attempt stopped before it started: the named job's recipe cancelled, its partners skipped. */
export function stoppedResults(
  t: SubmissionTable,
  setView: RecipeSetView,
  stopped: { reason: string; jobId?: string },
  skipped: Map<string, string>,
): Record<string, JobResult> {
  const target = stopped.jobId === undefined ? undefined : planJob(t, jobById(t, stopped.jobId).name);
  return Object.fromEntries(
    setView.jobIds.map((id): [string, JobResult] => {
      const name = jobById(t, id).name;
      const skip = skipped.get(name);
      if (skip !== undefined) return [id, { kind: 'skipped', reason: skip }];
      if (!target || target.recipe === planJob(t, name).recipe)
        return [id, { kind: 'cancelled', reason: `${stopped.reason} (before it started)` }];
      return [id, { kind: 'skipped', reason: partnerDidNotPass(target.name, 'cancelled') }];
    }),
  );
}

/** Why a job waits: for a host, or for its parents. */
export function waitingReason(t: SubmissionTable, j: JobView): Partial<JobView> {
  if (j.state !== 'waiting') return {};
  const set = t.sets.find((s) => s.number === j.setNumber);
  if (set?.state === 'leasing') return { waitingReason: 'waiting for a host' };
  const planSet = t.plan.recipeSets[set?.planIndex ?? 0]!;
  const pending = planSet.jobs
    .flatMap((name) => planJob(t, name).startAfter)
    .filter((parent) => !latestOf(t, parent)?.result);
  return pending.length > 0
    ? { waitingReason: `waiting for parent ${[...new Set(pending)].map((p) => `\`${p}\``).join(', ')}` }
    : {};
}

/** A batch run before its workflow reports: every test queued. */
export function waitingBatchRun(submissionId: string, run: PlanBatchRun): BatchRunView {
  return {
    id: jobId(submissionId, run.number),
    name: run.name,
    state: 'waiting',
    counts: {
      total: run.testCount,
      passed: 0,
      failed: 0,
      flaky: 0,
      skipped: 0,
      lost: 0,
      cancelled: 0,
      running: 0,
      queued: run.testCount,
      requeued: 0,
    },
    hosts: [],
    batches: 0,
    lostBatches: 0,
    isolated: [],
    lost: [],
    failed: [],
    flaky: [],
    running: [],
    workflowId: batchRunWorkflowId(submissionId, run.number),
  };
}
