/**
 * @module submissionWorkflow: what one POST created. It runs the plan's recipe sets in
 * after-edge order, each as a child recipe-set workflow; skips jobs whose parents did not
 * pass; and re-schedules an aborted recipe set as a clone on other hosts (the hosts it
 * aborted on excluded) up to maxRetries, keeping the aborted attempt visible beside it.
 * It answers the `cancel` signal and a query with the whole job table.
 */
import {
  condition,
  log,
  ParentClosePolicy,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';
import { batchRunWorkflowId, CONTROL_TASK_QUEUE, jobId } from '../domain/ids.js';
import type { Submission } from '../domain/job.js';
import type { RunConfig } from '../domain/job-run.js';
import { worstOf } from '../domain/outcome.js';
import type { Plan, PlanBatchRun, PlanRecipeSet } from '../domain/plan.js';
import { decideReschedule } from '../domain/reschedule.js';
import type { RestartHistory } from '../domain/restart.js';
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
} from '../domain/submission-table.js';
import { finalResults, type BatchRunView, type RecipeSetView, type SubmissionView } from '../domain/views.js';
import { batchRunWorkflow } from './batch-run.js';
import type { ChainJob } from './chain.js';
import { setLeasedSignal } from './chain-messages.js';
import { cancelSignal } from './messages.js';
import { recipeSetWorkflow, type RecipeSetResult } from './recipe-set.js';
import { fitList, HostKey, memoText, ResultKey, workflowSearchAttributes } from './search-attributes.js';
import { tell } from './signal.js';
import { submissionQuery } from './submission-messages.js';

export interface SubmissionWorkflowInput {
  submissionId: string;
  plan: Plan;
  config: RunConfig;
  createdAt: string;
  /** a health check started by the scheduler: runs only on this (possibly broken) host */
  healthCheckOf?: string;
  /** the result store has no record of this submission yet (the scheduler started it): create it */
  register?: { submission: Submission };
  /** a restart: job name → the job id it re-runs */
  lineage?: Record<string, string>;
  /**
   * a restart: job name → the attempt the job it re-runs reached and the hosts its attempts
   * ran on. Attempts go on counting from there, and those hosts are preferred least.
   */
  restarted?: Record<string, RestartHistory>;
  /** the token name that submitted it: who a reservation after its jobs is for, who may lower its priority */
  submittedBy?: string;
}

const control = proxyLocalActivities<ControlActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

export async function submissionWorkflow(input: SubmissionWorkflowInput): Promise<SubmissionView> {
  const { plan, submissionId, config } = input;
  const table = newTable(submissionId, plan, input.lineage);
  const { jobs, sets } = table;
  const running = new Map<number, ChildWorkflowHandle<typeof recipeSetWorkflow>>();
  const setDone = new Array<boolean>(plan.recipeSets.length).fill(false);
  const batchRuns = new Map<string, BatchRunView>(plan.batchRuns.map((r) => [r.name, waitingBatchRun(submissionId, r)]));
  const batchHandles = new Map<string, ChildWorkflowHandle<typeof batchRunWorkflow>>();
  const stopBeforeStart = new Map<number, { reason: string; jobId?: string }>();
  let cancelAll: string | undefined;

  const view = (): SubmissionView => {
    const runs = [...batchRuns.values()];
    const v: SubmissionView = {
      id: submissionId,
      state: setDone.every(Boolean) && runs.every((r) => r.state === 'done') ? 'done' : 'running',
      createdAt: input.createdAt,
      workflowId: workflowInfo().workflowId,
      jobs: jobs.map((j) => ({ ...j, ...waitingReason(table, j) })),
      recipeSets: sets.map((s) => ({ ...s })),
      ...(runs.length > 0 ? { batchRuns: runs } : {}),
    };
    if (plan.name !== undefined) v.name = plan.name;
    if (input.submittedBy !== undefined) v.submittedBy = input.submittedBy;
    if (v.state === 'done') v.result = worstOf([...finalResults(jobs).map((r) => r.kind), ...runs.map((r) => r.result ?? 'aborted')]);
    return v;
  };

  setHandler(submissionQuery, view);
  setHandler(setLeasedSignal, ({ setNumber, hosts }) => markLeased(table, setNumber, hosts));
  setHandler(cancelSignal, (req) => {
    const reason = req.reason ?? 'cancelled';
    if (req.jobId === undefined) {
      cancelAll ??= reason;
      for (const handle of running.values()) tell(handle, cancelSignal, { reason });
      for (const handle of batchHandles.values()) tell(handle, cancelSignal, { reason });
      return;
    }
    const batchRun = plan.batchRuns.find((r) => jobId(submissionId, r.number) === req.jobId);
    if (batchRun) {
      const handle = batchHandles.get(batchRun.name);
      if (handle) tell(handle, cancelSignal, { reason });
      return;
    }
    const job = jobs.find((j) => j.id === req.jobId);
    if (!job) return;
    const current = latestOf(table, job.name)!;
    const handle = running.get(current.setNumber);
    if (handle) {
      tell(handle, cancelSignal, { reason, jobId: current.id });
    } else if (!current.result) {
      const setView = sets.find((s) => s.number === current.setNumber)!;
      if (!stopBeforeStart.has(setView.planIndex)) stopBeforeStart.set(setView.planIndex, { reason, jobId: current.id });
    }
  });

  const runSet = async (planSet: PlanRecipeSet): Promise<void> => {
    // A restart goes on from the attempts of the jobs it re-runs (a recipe set of a restart
    // holds jobs of one recipe set of the original, so they share their attempt count).
    const history = planSet.jobs.flatMap((name) => input.restarted?.[name] ?? []);
    const attemptsBefore = Math.max(0, ...history.map((h) => h.attempt));
    let setView = addAttempt(table, planSet, attemptsBefore + 1);
    await condition(() => planSet.after.every((a) => setDone[a]));
    const maxRetries = Math.min(planSet.maxRetries, config.maxRetriesCap);
    const excluded = new Set<string>();
    const previous = new Set<string>(history.flatMap((h) => h.hosts));
    // `attempt` counts this submission's attempts (maxRetries is per submission); the
    // number a job and its runner see (TESTBAY_ATTEMPT) includes a restart's earlier ones.
    for (let attempt = 1; ; attempt++) {
      const skipped = preSkipped(table, planSet);
      const stopped = cancelAll !== undefined ? { reason: cancelAll } : stopBeforeStart.get(planSet.index);
      if (stopped) {
        finishAttempt(table, setView, stoppedResults(table, setView, stopped, skipped), []);
        break;
      }
      if (planSet.jobs.every((name) => skipped.has(name))) {
        finishAttempt(table, setView, Object.fromEntries(setView.jobIds.map((id) => [id, { kind: 'skipped', reason: skipped.get(jobById(table, id).name)! }])), []);
        break;
      }
      setView.state = 'leasing';
      setView.excludedHosts = [...excluded];
      const result = await runAttempt(planSet, setView, attemptsBefore + attempt, skipped, [...excluded], [...previous]);
      if (result.denied !== undefined && attempt > 1) {
        // No host is left for the clone: drop it and say why on the attempt it would have retried.
        dropClone(table, setView, result.denied);
        break;
      }
      finishAttempt(table, setView, result.results, result.hosts);
      const setJobs = setView.jobIds.map((id) => jobById(table, id));
      const decision = decideReschedule(setJobs, attempt, maxRetries, cancelAll !== undefined);
      if (decision.kind === 'stop') {
        if (decision.notRetried !== undefined) setView.notRetried = decision.notRetried;
        if (decision.note !== undefined) noteOnAborted(table, setView, decision.note);
        break;
      }
      for (const h of decision.exclude) excluded.add(h);
      for (const h of result.hosts) previous.add(h);
      log.info('re-scheduling aborted recipe set', { set: setView.number, excluded: [...excluded] });
      setView = addAttempt(table, planSet, attemptsBefore + attempt + 1, setView);
    }
    setDone[planSet.index] = true;
  };

  const runAttempt = async (
    planSet: PlanRecipeSet,
    setView: RecipeSetView,
    attempt: number,
    preSkipped: Map<string, string>,
    excludedHosts: string[],
    previousHosts: string[],
  ): Promise<RecipeSetResult> => {
    const idOf = (name: string) => setView.jobIds.find((id) => jobById(table, id).name === name)!;
    const recipes = planSet.recipes.map((r) => {
      const recipe = plan.recipes[r]!;
      const chainJobs: ChainJob[] = recipe.jobs.map((name) => {
        const pj = plan.jobs.find((j) => j.name === name)!;
        const chainJob: ChainJob = {
          id: idOf(name),
          name,
          spec: {
            runner: pj.runner,
            settings: pj.settings,
            ...(pj.secrets ? { secrets: pj.secrets } : {}),
            timeoutMs: pj.timeoutMs,
            provisionTimeoutMs: pj.provisionTimeoutMs,
            ...(pj.outputTimeoutMs !== undefined ? { outputTimeoutMs: pj.outputTimeoutMs } : {}),
            assets: pj.assets,
            ...(pj.tests ? { tests: pj.tests } : {}),
          },
        };
        if (pj.startDirectlyAfter !== undefined) chainJob.chainParent = pj.startDirectlyAfter;
        if (pj.role !== undefined) chainJob.role = pj.role;
        if (pj.reserve !== undefined) chainJob.reserve = pj.reserve;
        const skip = preSkipped.get(name);
        if (skip !== undefined) chainJob.preSkipped = skip;
        return chainJob;
      });
      return { workerClass: recipe.workerClass, hostRequires: recipe.hostRequires, jobs: chainJobs, ...(recipe.host !== undefined ? { hostId: recipe.host } : {}) };
    });
    const handle = await startChild(recipeSetWorkflow, {
      workflowId: setView.workflowId,
      taskQueue: CONTROL_TASK_QUEUE,
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      typedSearchAttributes: workflowSearchAttributes({ submissionId, jobs: [...planSet.jobs, ...setView.jobIds], workerClasses: recipes.map((r) => r.workerClass) }),
      memo: { jobs: memoText(planSet.jobs.join(', ')), attempt },
      args: [
        {
          submissionId,
          setNumber: setView.number,
          attempt,
          label: `${submissionId} set ${setView.number} (${planSet.jobs.join(', ')})`,
          recipes,
          excludedHosts,
          previousHosts,
          priority: input.healthCheckOf !== undefined ? 0 : planSet.priority,
          ...(input.healthCheckOf !== undefined ? { healthCheckOf: input.healthCheckOf } : {}),
          ...(planSet.queueTimeoutMs !== undefined ? { queueTimeoutMs: planSet.queueTimeoutMs } : {}),
          ...(planSet.pool !== undefined ? { pool: planSet.pool } : {}),
          ...(planSet.stopPartnersOnFailure === false ? { stopPartnersOnFailure: false as const } : {}),
          config,
          submissionWorkflowId: workflowInfo().workflowId,
          ...(input.submittedBy !== undefined ? { submittedBy: input.submittedBy } : {}),
        },
      ],
    });
    running.set(setView.number, handle);
    try {
      return await handle.result();
    } finally {
      running.delete(setView.number);
    }
  };

  if (input.register) {
    await control.registerSubmission({
      id: submissionId,
      createdAt: input.createdAt,
      submission: input.register.submission,
      plan,
      workflowId: workflowInfo().workflowId,
      ...(plan.name !== undefined ? { name: plan.name } : {}),
    });
  }
  const runBatch = async (run: PlanBatchRun): Promise<void> => {
    const workflowId = batchRunWorkflowId(submissionId, run.number);
    if (cancelAll !== undefined) {
      batchRuns.set(run.name, { ...waitingBatchRun(submissionId, run), state: 'done', result: 'cancelled', reason: cancelAll });
      return;
    }
    const handle = await startChild(batchRunWorkflow, {
      workflowId,
      taskQueue: CONTROL_TASK_QUEUE,
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      typedSearchAttributes: workflowSearchAttributes({ submissionId, jobs: [run.name], workerClasses: [run.workerClass] }),
      memo: { batchRun: run.name },
      args: [{ submissionId, run, config }],
    });
    batchHandles.set(run.name, handle);
    // A cancel that came while the child was starting found no handle to signal.
    if (cancelAll !== undefined) tell(handle, cancelSignal, { reason: cancelAll });
    try {
      batchRuns.set(run.name, await handle.result());
    } finally {
      batchHandles.delete(run.name);
    }
  };

  await Promise.all([...plan.recipeSets.map((s) => runSet(s)), ...plan.batchRuns.map((r) => runBatch(r))]);

  const final = view();
  const hosts = [...new Set(sets.flatMap((s) => s.hosts))];
  upsertSearchAttributes([
    { key: ResultKey, value: final.result ?? 'unknown' },
    ...(hosts.length > 0 ? [{ key: HostKey, value: fitList(hosts) }] : []),
  ]);
  final.endedAt = new Date().toISOString();
  await control.recordSubmission(final);
  return final;
}

