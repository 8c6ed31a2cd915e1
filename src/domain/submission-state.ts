/**
 * @module The submission as state and events, the scheduler's shape (domain/lab.ts): every
 * decision of submissionWorkflow, pure. `apply(state, event)` takes what happened (the run
 * began, a recipe set's child started, leased or ended, a batch run started or ended, a
 * cancel, the changes settled) and returns the commands to carry out (start a recipe set's
 * attempt or a batch run, pass a cancel on to a child, log). The workflow only turns
 * signals and child results into events and carries out the commands, in the order given.
 *
 * The rules it combines live beside it: the job table (submission-table.ts) and the
 * re-scheduling rule (reschedule.ts). A recipe set waits for its `after` sets; an attempt
 * whose jobs are all skipped, or that was stopped before it started, ends without a child;
 * an aborted attempt is cloned onto other hosts up to maxRetries.
 */
import { worstOf, type JobResult } from './outcome.js';
import type { PlanRecipeSet } from './plan.js';
import type { RestartHistory } from './restart.js';
import { decideReschedule } from './reschedule.js';
import {
  addAttempt,
  dropClone,
  finishAttempt,
  jobById,
  latestOf,
  markLeased,
  newTable,
  noteOnAborted,
  preSkipped,
  stoppedResults,
  waitingBatchRun,
  waitingReason,
  type SubmissionTable,
} from './submission-table.js';
import type { Plan } from './plan.js';
import { finalResults, type BatchRunView, type RecipeSetView, type SubmissionView } from './views.js';
import { jobId } from './ids.js';

/** What an attempt of a recipe set ended with (its workflow's result). */
export interface AttemptResult {
  /** by job id */
  results: Record<string, JobResult>;
  /** leased host per recipe; empty when no lease was granted */
  hosts: string[];
  /** the scheduler said no host could ever take this set */
  denied?: string;
}

/** A cancel of one job that came before its attempt started. */
interface StopRequest {
  reason: string;
  jobId?: string;
}

/** One recipe set of the plan, through its attempts. */
export interface SetProgress {
  planSet: PlanRecipeSet;
  phase: 'waiting' | 'running' | 'done';
  /** the current attempt */
  view: RecipeSetView;
  /** this submission's attempts so far (maxRetries counts these) */
  attempts: number;
  /** a restart's attempts before this submission (the number runners see goes on from there) */
  attemptsBefore: number;
  /** hosts an earlier attempt aborted on: a clone never runs there */
  excluded: string[];
  /** hosts earlier attempts (and a restart's) ran on: preferred least */
  previous: string[];
}

export interface SubmissionState {
  table: SubmissionTable;
  /** by the plan's recipe-set index */
  sets: SetProgress[];
  batchRuns: Map<string, BatchRunView>;
  /**
   * recipe-set attempts (by set number) and batch runs (by name) whose workflow has started,
   * in the order they started: a cancel of everything reaches them in that order
   */
  setsStarted: Set<number>;
  batchStarted: Set<string>;
  /** by batch run name: a cancel of the batch run's job that came before its workflow started */
  batchStopBeforeStart: Map<string, string>;
  maxRetriesCap: number;
  /** a cancel of the whole submission */
  cancelAll?: string;
  /** by plan index: a job cancelled before its set's attempt started */
  stopBeforeStart: Map<number, StopRequest>;
  /** something ended: the waiting sets may start (the workflow settles on it) */
  unsettled: boolean;
}

export type SubmissionEvent =
  | { kind: 'begin' }
  | { kind: 'set-started'; setNumber: number }
  | { kind: 'leased'; setNumber: number; hosts: string[] }
  | { kind: 'set-ended'; setNumber: number; result: AttemptResult }
  | { kind: 'batch-started'; name: string }
  | { kind: 'batch-ended'; name: string; view: BatchRunView }
  | { kind: 'cancel'; reason: string; jobId?: string }
  /** every change of this activation is in: start the sets whose `after` sets are done */
  | { kind: 'settle' };

/** Who a cancel goes to: a recipe set's attempt (by set number) or a batch run (by name). */
export type CancelTarget = { setNumber: number } | { batchRun: string };

export type SubmissionCommand =
  /** start an attempt's recipe-set workflow */
  | {
      kind: 'start-set';
      planIndex: number;
      setNumber: number;
      /** the attempt the runners see (a restart's earlier ones included) */
      attempt: number;
      preSkipped: Map<string, string>;
      excludedHosts: string[];
      previousHosts: string[];
    }
  | { kind: 'start-batch-run'; name: string }
  /**
   * pass a cancel on; `whileStarting` when it came while the child was starting and found
   * nobody to tell (runs recorded before that was caught did not send it)
   */
  | { kind: 'cancel-child'; to: CancelTarget; reason: string; jobId?: string; whileStarting?: true }
  | { kind: 'log'; message: string; fields: Record<string, unknown> };

export interface SubmissionStart {
  submissionId: string;
  plan: Plan;
  maxRetriesCap: number;
  /** a restart: job name → the job id it re-runs */
  lineage?: Record<string, string> | undefined;
  /** a restart: job name → the attempts and hosts of the job it re-runs */
  restarted?: Record<string, RestartHistory> | undefined;
}

/** Every recipe set's first attempt waits; every batch run waits. */
export function newSubmissionState(start: SubmissionStart): SubmissionState {
  const table = newTable(start.submissionId, start.plan, start.lineage);
  const sets = start.plan.recipeSets.map((planSet): SetProgress => {
    // A restart goes on from the attempts of the jobs it re-runs (a recipe set of a restart
    // holds jobs of one recipe set of the original, so they share their attempt count).
    const history = planSet.jobs.flatMap((name) => start.restarted?.[name] ?? []);
    const attemptsBefore = Math.max(0, ...history.map((h) => h.attempt));
    return {
      planSet,
      phase: 'waiting',
      view: addAttempt(table, planSet, attemptsBefore + 1),
      attempts: 0,
      attemptsBefore,
      excluded: [],
      previous: [...new Set(history.flatMap((h) => h.hosts))],
    };
  });
  const batchRuns = new Map(start.plan.batchRuns.map((r) => [r.name, waitingBatchRun(start.submissionId, r)]));
  return {
    table,
    sets,
    batchRuns,
    setsStarted: new Set(),
    batchStarted: new Set(),
    batchStopBeforeStart: new Map(),
    maxRetriesCap: start.maxRetriesCap,
    stopBeforeStart: new Map(),
    unsettled: false,
  };
}

/** Every recipe set and batch run has ended. */
export const submissionDone = (s: SubmissionState): boolean =>
  s.sets.every((p) => p.phase === 'done') && [...s.batchRuns.values()].every((r) => r.state === 'done');

/** The submission as the API shows it (its query, and its final record). */
export function submissionView(
  s: SubmissionState,
  meta: { createdAt: string; workflowId: string; name?: string | undefined; submittedBy?: string | undefined },
): SubmissionView {
  const { table } = s;
  const runs = [...s.batchRuns.values()];
  const v: SubmissionView = {
    id: table.submissionId,
    state: submissionDone(s) ? 'done' : 'running',
    createdAt: meta.createdAt,
    workflowId: meta.workflowId,
    jobs: table.jobs.map((j) => ({ ...j, ...waitingReason(table, j) })),
    recipeSets: table.sets.map((set) => ({ ...set })),
    ...(runs.length > 0 ? { batchRuns: runs } : {}),
  };
  if (meta.name !== undefined) v.name = meta.name;
  if (meta.submittedBy !== undefined) v.submittedBy = meta.submittedBy;
  if (v.state === 'done')
    v.result = worstOf([...finalResults(table.jobs).map((r) => r.kind), ...runs.map((r) => r.result ?? 'aborted')]);
  return v;
}

/** Applies one event and returns the commands to carry out, in order. */
export function apply(s: SubmissionState, e: SubmissionEvent): SubmissionCommand[] {
  switch (e.kind) {
    case 'begin':
      // Batch runs first, then the sets that wait for nothing: the order their workflows start in.
      return [...[...s.batchRuns.keys()].flatMap((name) => beginBatchRun(s, name)), ...settle(s)];
    case 'set-started':
      return setStarted(s, e.setNumber);
    case 'leased':
      markLeased(s.table, e.setNumber, e.hosts);
      return [];
    case 'set-ended':
      return setEnded(s, e.setNumber, e.result);
    case 'batch-started':
      return batchStarted(s, e.name);
    case 'batch-ended':
      s.batchStarted.delete(e.name);
      s.batchRuns.set(e.name, e.view);
      s.unsettled = true;
      return [];
    case 'cancel':
      return cancel(s, e.reason, e.jobId);
    case 'settle':
      return settle(s);
  }
}

function beginBatchRun(s: SubmissionState, name: string): SubmissionCommand[] {
  if (s.cancelAll === undefined) return [{ kind: 'start-batch-run', name }];
  const run = s.table.plan.batchRuns.find((r) => r.name === name)!;
  s.batchRuns.set(name, {
    ...waitingBatchRun(s.table.submissionId, run),
    state: 'done',
    result: 'cancelled',
    reason: s.cancelAll,
  });
  return [];
}

/** Starts, in plan order, the waiting sets whose `after` sets are done, and again for those that ended at once. */
function settle(s: SubmissionState): SubmissionCommand[] {
  const out: SubmissionCommand[] = [];
  for (;;) {
    const ready = s.sets.filter(
      (p) => p.phase === 'waiting' && p.planSet.after.every((a) => s.sets[a]!.phase === 'done'),
    );
    if (ready.length === 0) break;
    for (const p of ready) out.push(...beginAttempt(s, p));
  }
  s.unsettled = false;
  return out;
}

/** The set's next attempt: ended at once (stopped, or every job skipped), or its workflow started. */
function beginAttempt(s: SubmissionState, p: SetProgress): SubmissionCommand[] {
  const { table } = s;
  const { planSet } = p;
  p.attempts++;
  const skipped = preSkipped(table, planSet);
  const stopped = s.cancelAll !== undefined ? { reason: s.cancelAll } : s.stopBeforeStart.get(planSet.index);
  if (stopped) {
    finishAttempt(table, p.view, stoppedResults(table, p.view, stopped, skipped), []);
    return setDone(s, p);
  }
  if (planSet.jobs.every((name) => skipped.has(name))) {
    const results = Object.fromEntries(
      p.view.jobIds.map((id): [string, JobResult] => [
        id,
        { kind: 'skipped', reason: skipped.get(jobById(table, id).name)! },
      ]),
    );
    finishAttempt(table, p.view, results, []);
    return setDone(s, p);
  }
  p.phase = 'running';
  p.view.state = 'leasing';
  p.view.excludedHosts = [...p.excluded];
  return [
    {
      kind: 'start-set',
      planIndex: planSet.index,
      setNumber: p.view.number,
      attempt: p.attemptsBefore + p.attempts,
      preSkipped: skipped,
      excludedHosts: [...p.excluded],
      previousHosts: [...p.previous],
    },
  ];
}

function setDone(s: SubmissionState, p: SetProgress): SubmissionCommand[] {
  p.phase = 'done';
  s.unsettled = true;
  return [];
}

function batchStarted(s: SubmissionState, name: string): SubmissionCommand[] {
  s.batchStarted.add(name);
  // A cancel that came while the child was starting found nobody to tell.
  if (s.cancelAll !== undefined) return [{ kind: 'cancel-child', to: { batchRun: name }, reason: s.cancelAll }];
  const reason = s.batchStopBeforeStart.get(name);
  return reason !== undefined ? [{ kind: 'cancel-child', to: { batchRun: name }, reason, whileStarting: true }] : [];
}

const progressOf = (s: SubmissionState, setNumber: number) =>
  s.sets.find((p) => p.phase === 'running' && p.view.number === setNumber);

function setStarted(s: SubmissionState, setNumber: number): SubmissionCommand[] {
  const p = progressOf(s, setNumber);
  if (!p) return [];
  s.setsStarted.add(setNumber);
  // A cancel that came while the child was starting found nobody to tell.
  if (s.cancelAll !== undefined)
    return [{ kind: 'cancel-child', to: { setNumber }, reason: s.cancelAll, whileStarting: true }];
  const stop = s.stopBeforeStart.get(p.planSet.index);
  if (stop?.jobId !== undefined && p.view.jobIds.includes(stop.jobId)) {
    return [{ kind: 'cancel-child', to: { setNumber }, reason: stop.reason, jobId: stop.jobId, whileStarting: true }];
  }
  return [];
}

/** An attempt ended: record it, then re-schedule it as a clone on other hosts or end the set. */
function setEnded(s: SubmissionState, setNumber: number, result: AttemptResult): SubmissionCommand[] {
  const { table } = s;
  const p = progressOf(s, setNumber);
  if (!p) return [];
  s.setsStarted.delete(setNumber);
  const view = p.view;
  if (result.denied !== undefined && p.attempts > 1) {
    // No host is left for the clone: drop it and say why on the attempt it would have retried.
    dropClone(table, view, result.denied);
    return setDone(s, p);
  }
  finishAttempt(table, view, result.results, result.hosts);
  const setJobs = view.jobIds.map((id) => jobById(table, id));
  const maxRetries = Math.min(p.planSet.maxRetries, s.maxRetriesCap);
  const decision = decideReschedule(setJobs, p.attempts, maxRetries, s.cancelAll !== undefined);
  if (decision.kind === 'stop') {
    if (decision.notRetried !== undefined) view.notRetried = decision.notRetried;
    if (decision.note !== undefined) noteOnAborted(table, view, decision.note);
    return setDone(s, p);
  }
  for (const h of decision.exclude) if (!p.excluded.includes(h)) p.excluded.push(h);
  for (const h of result.hosts) if (!p.previous.includes(h)) p.previous.push(h);
  const log: SubmissionCommand = {
    kind: 'log',
    message: 're-scheduling aborted recipe set',
    fields: { set: view.number, excluded: [...p.excluded] },
  };
  p.view = addAttempt(table, p.planSet, p.attemptsBefore + p.attempts + 1, view);
  return [log, ...beginAttempt(s, p)];
}

/** A cancel of the whole submission goes to every running child; one of a job, to its attempt or batch run. */
function cancel(s: SubmissionState, reason: string, target: string | undefined): SubmissionCommand[] {
  const { table } = s;
  if (target === undefined) {
    s.cancelAll ??= reason;
    return [
      ...[...s.setsStarted].map((setNumber): SubmissionCommand => ({
        kind: 'cancel-child',
        to: { setNumber },
        reason,
      })),
      ...[...s.batchStarted].map((name): SubmissionCommand => ({
        kind: 'cancel-child',
        to: { batchRun: name },
        reason,
      })),
    ];
  }
  const batchRun = table.plan.batchRuns.find((r) => jobId(table.submissionId, r.number) === target);
  if (batchRun) {
    if (s.batchStarted.has(batchRun.name)) return [{ kind: 'cancel-child', to: { batchRun: batchRun.name }, reason }];
    if (s.batchRuns.get(batchRun.name)?.state !== 'done') s.batchStopBeforeStart.set(batchRun.name, reason);
    return [];
  }
  const job = table.jobs.find((j) => j.id === target);
  if (!job) return [];
  const current = latestOf(table, job.name)!;
  if (s.setsStarted.has(current.setNumber))
    return [{ kind: 'cancel-child', to: { setNumber: current.setNumber }, reason, jobId: current.id }];
  if (!current.result) {
    const planIndex = table.sets.find((set) => set.number === current.setNumber)!.planIndex;
    if (!s.stopBeforeStart.has(planIndex)) s.stopBeforeStart.set(planIndex, { reason, jobId: current.id });
  }
  return [];
}
