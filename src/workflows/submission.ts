/**
 * @module submissionWorkflow: what one POST created. It runs the plan's recipe sets in
 * after-edge order, each as a child recipe-set workflow, and its batch runs; skips jobs
 * whose parents did not pass; and re-schedules an aborted recipe set as a clone on other
 * hosts (the hosts it aborted on excluded) up to maxRetries, keeping the aborted attempt
 * visible beside it. It answers the `cancel` signal and a query with the whole job table.
 * Every decision is made in domain/submission-state.ts (`apply(state, event) → commands`);
 * this file turns signals and child results into events and carries out the commands.
 */
import {
  condition,
  log,
  patched,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowHandle,
  type Workflow,
  type WorkflowResultType,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';
import type { Submission } from '../domain/job.js';
import type { RunConfig } from '../domain/job-run.js';
import type { Plan } from '../domain/plan.js';
import type { RestartHistory } from '../domain/restart.js';
import { jobById } from '../domain/submission-table.js';
import {
  apply,
  newSubmissionState,
  submissionDone,
  submissionView,
  type SubmissionCommand,
  type SubmissionEvent,
} from '../domain/submission-state.js';
import type { SubmissionView } from '../domain/views.js';
import type { batchRunWorkflow } from './batch-run.js';
import { setLeasedSignal } from './chain-messages.js';
import { cancelSignal } from './messages.js';
import type { recipeSetWorkflow } from './recipe-set.js';
import { fitList, HostKey, ResultKey } from './search-attributes.js';
import { tell } from './signal.js';
import { startBatchRun, startRecipeSet, type SubmissionContext } from './submission-children.js';
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

/**
 * Runs recorded before it did not pass on a cancel that came while a child was starting (of the whole submission, to a
 * recipe set; of one job, to its recipe set or batch run): it found nobody to tell.
 */
const CANCEL_WHILE_STARTING_PATCH = 'submission-cancel-while-starting';

const control = proxyLocalActivities<ControlActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

export async function submissionWorkflow(input: SubmissionWorkflowInput): Promise<SubmissionView> {
  const { plan, submissionId, config } = input;
  const { workflowId } = workflowInfo();
  const s = newSubmissionState({
    submissionId,
    plan,
    maxRetriesCap: config.maxRetriesCap,
    lineage: input.lineage,
    restarted: input.restarted,
  });
  const ctx: SubmissionContext = {
    submissionId,
    plan,
    config,
    healthCheckOf: input.healthCheckOf,
    submittedBy: input.submittedBy,
  };
  const sets = new Map<number, ChildWorkflowHandle<typeof recipeSetWorkflow>>();
  const batchRuns = new Map<string, ChildWorkflowHandle<typeof batchRunWorkflow>>();
  /** a child that failed (not a result: its workflow failed) fails the submission, as it always did */
  let failure: { err: unknown } | undefined;

  const view = () =>
    submissionView(s, { createdAt: input.createdAt, workflowId, name: plan.name, submittedBy: input.submittedBy });
  const emit = (e: SubmissionEvent): void => {
    for (const c of apply(s, e)) carryOut(c);
  };
  const carryOut = (c: SubmissionCommand): void => {
    if (c.kind === 'log') {
      log.info(c.message, c.fields);
    } else if (c.kind === 'cancel-child') {
      if (c.whileStarting && !patched(CANCEL_WHILE_STARTING_PATCH)) return;
      const handle = 'setNumber' in c.to ? sets.get(c.to.setNumber) : batchRuns.get(c.to.batchRun);
      if (handle)
        tell(handle, cancelSignal, { reason: c.reason, ...(c.jobId !== undefined ? { jobId: c.jobId } : {}) });
    } else if (c.kind === 'start-set') {
      const { setNumber } = c;
      const setView = s.table.sets.find((v) => v.number === setNumber)!;
      follow(
        startRecipeSet(ctx, { ...c, view: setView, jobName: (id) => jobById(s.table, id).name }),
        sets,
        setNumber,
        () => emit({ kind: 'set-started', setNumber }),
        (result) => emit({ kind: 'set-ended', setNumber, result }),
      );
    } else {
      const { name } = c;
      const run = plan.batchRuns.find((r) => r.name === name)!;
      follow(
        startBatchRun(ctx, run),
        batchRuns,
        name,
        () => emit({ kind: 'batch-started', name }),
        (result) => emit({ kind: 'batch-ended', name, view: result }),
      );
    }
  };

  /** Follows a child from its start to its result, its handle kept meanwhile (a cancel goes through it). */
  function follow<W extends Workflow, K>(
    start: Promise<ChildWorkflowHandle<W>>,
    handles: Map<K, ChildWorkflowHandle<W>>,
    key: K,
    started: () => void,
    ended: (result: WorkflowResultType<W>) => void,
  ): void {
    start
      .then((handle) => {
        handles.set(key, handle);
        started();
        return handle.result();
      })
      .then((result) => {
        handles.delete(key);
        ended(result);
      })
      // The child's failure, or a bug in telling the state: the submission fails (it is not retried for ever).
      .catch((err: unknown) => void (failure ??= { err }));
  }

  setHandler(submissionQuery, view);
  setHandler(setLeasedSignal, ({ setNumber, hosts }) => emit({ kind: 'leased', setNumber, hosts }));
  setHandler(cancelSignal, (req) =>
    emit({
      kind: 'cancel',
      reason: req.reason ?? 'cancelled',
      ...(req.jobId !== undefined ? { jobId: req.jobId } : {}),
    }),
  );

  if (input.register) {
    await control.registerSubmission({
      id: submissionId,
      createdAt: input.createdAt,
      submission: input.register.submission,
      plan,
      workflowId,
      ...(plan.name !== undefined ? { name: plan.name } : {}),
    });
  }
  emit({ kind: 'begin' });
  while (!submissionDone(s)) {
    await condition(() => s.unsettled || failure !== undefined);
    if (failure) throw failure.err;
    emit({ kind: 'settle' });
  }

  const final = view();
  const hosts = [...new Set(s.table.sets.flatMap((set) => set.hosts))];
  upsertSearchAttributes([
    { key: ResultKey, value: final.result ?? 'unknown' },
    ...(hosts.length > 0 ? [{ key: HostKey, value: fitList(hosts) }] : []),
  ]);
  final.endedAt = new Date().toISOString();
  await control.recordSubmission(final);
  return final;
}
