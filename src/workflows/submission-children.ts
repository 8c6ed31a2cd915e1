/**
 * @module The submission's children: `startRecipeSet` starts an attempt of a recipe set
 * (its recipes' chains of jobs, the hosts to avoid and to prefer least), `startBatchRun` a
 * batch run. Both are started on the control queue, cancelled with the submission, and
 * searchable by the submission and their jobs.
 */
import { ParentClosePolicy, startChild, workflowInfo } from '@temporalio/workflow';
import { batchRunWorkflowId, CONTROL_TASK_QUEUE } from '../domain/ids.js';
import type { RunConfig } from '../domain/job-run.js';
import type { Plan, PlanBatchRun, PlanJob } from '../domain/plan.js';
import type { RecipeSetView } from '../domain/views.js';
import { batchRunWorkflow } from './batch-run.js';
import type { ChainJob } from './chain.js';
import { recipeSetWorkflow } from './recipe-set.js';
import { memoText, workflowSearchAttributes } from './search-attributes.js';

/** What every child of one submission shares. */
export interface SubmissionContext {
  submissionId: string;
  plan: Plan;
  config: RunConfig;
  healthCheckOf?: string | undefined;
  submittedBy?: string | undefined;
}

/** One attempt of a recipe set, as the submission's state decided it. */
export interface SetAttempt {
  planIndex: number;
  view: RecipeSetView;
  /** the attempt the runners see */
  attempt: number;
  preSkipped: Map<string, string>;
  excludedHosts: string[];
  previousHosts: string[];
  jobName: (id: string) => string;
}

/** A job of the plan as its chain runs it: its run spec, its place in the chain, whether it is skipped. */
function chainJob(pj: PlanJob, id: string, preSkipped: Map<string, string>): ChainJob {
  const job: ChainJob = {
    id,
    name: pj.name,
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
  if (pj.startDirectlyAfter !== undefined) job.chainParent = pj.startDirectlyAfter;
  if (pj.role !== undefined) job.role = pj.role;
  if (pj.reserve !== undefined) job.reserve = pj.reserve;
  const skip = preSkipped.get(pj.name);
  if (skip !== undefined) job.preSkipped = skip;
  return job;
}

export function startRecipeSet(ctx: SubmissionContext, a: SetAttempt) {
  const { plan, submissionId } = ctx;
  const planSet = plan.recipeSets[a.planIndex]!;
  const idOf = (name: string) => a.view.jobIds.find((id) => a.jobName(id) === name)!;
  const recipes = planSet.recipes.map((r) => {
    const recipe = plan.recipes[r]!;
    const jobs = recipe.jobs.map((name) =>
      chainJob(
        plan.jobs.find((j) => j.name === name)!,
        idOf(name),
        a.preSkipped,
      ),
    );
    return {
      workerClass: recipe.workerClass,
      hostRequires: recipe.hostRequires,
      jobs,
      ...(recipe.host !== undefined ? { hostId: recipe.host } : {}),
    };
  });
  return startChild(recipeSetWorkflow, {
    workflowId: a.view.workflowId,
    taskQueue: CONTROL_TASK_QUEUE,
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    typedSearchAttributes: workflowSearchAttributes({
      submissionId,
      jobs: [...planSet.jobs, ...a.view.jobIds],
      workerClasses: recipes.map((r) => r.workerClass),
    }),
    memo: { jobs: memoText(planSet.jobs.join(', ')), attempt: a.attempt },
    args: [
      {
        submissionId,
        setNumber: a.view.number,
        attempt: a.attempt,
        label: `${submissionId} set ${a.view.number} (${planSet.jobs.join(', ')})`,
        recipes,
        excludedHosts: a.excludedHosts,
        previousHosts: a.previousHosts,
        priority: ctx.healthCheckOf !== undefined ? 0 : planSet.priority,
        ...(ctx.healthCheckOf !== undefined ? { healthCheckOf: ctx.healthCheckOf } : {}),
        ...(planSet.queueTimeoutMs !== undefined ? { queueTimeoutMs: planSet.queueTimeoutMs } : {}),
        ...(planSet.pool !== undefined ? { pool: planSet.pool } : {}),
        ...(planSet.stopPartnersOnFailure === false ? { stopPartnersOnFailure: false as const } : {}),
        config: ctx.config,
        submissionWorkflowId: workflowInfo().workflowId,
        ...(ctx.submittedBy !== undefined ? { submittedBy: ctx.submittedBy } : {}),
      },
    ],
  });
}

export function startBatchRun(ctx: SubmissionContext, run: PlanBatchRun) {
  const { submissionId } = ctx;
  return startChild(batchRunWorkflow, {
    workflowId: batchRunWorkflowId(submissionId, run.number),
    taskQueue: CONTROL_TASK_QUEUE,
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    typedSearchAttributes: workflowSearchAttributes({
      submissionId,
      jobs: [run.name],
      workerClasses: [run.workerClass],
    }),
    memo: { batchRun: run.name },
    args: [{ submissionId, run, config: ctx.config }],
  });
}
