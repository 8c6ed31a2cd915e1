/**
 * @module Reconciliation: a submission whose workflow is gone (terminated by hand, timed
 * out, failed, or past retention) while the result store still says `running` would stay
 * running for ever. It is found when the API reads it, by `cancel`, and by the periodic
 * sweep (the `testbay-reconcile` Temporal Schedule), and ended `aborted` (cause
 * `internal`) with the workflow's own failure as the reason. A completed workflow whose
 * final view never reached the store gets it from Temporal.
 */
import { jobId as makeJobId, submissionWorkflowId } from '../domain/ids.js';
import { initialJobNumbers } from '../domain/plan.js';
import { abortedView, type SubmissionView } from '../domain/views.js';
import type { Logger } from '../logger.js';
import { StoreError, type ResultStore, type SubmissionRecord } from './store/result-store.js';
import type { TemporalGateway } from './temporal-gateway.js';
import type { Notifier } from './notify/notifier.js';

export interface ReconcileDeps {
  store: ResultStore;
  gateway: TemporalGateway;
  log: Logger;
  /** tells webhooks and the commit status of the submission's end */
  notifier?: Pick<Notifier, 'submissionDone'>;
}

/** A workflow that is not found so soon after the record was made may not have started yet. */
const MISSING_GRACE_MS = 60_000;
/** A stopped workflow answers its last query only if a worker replays it: not for long. */
const LAST_QUERY_MS = 5_000;

/**
 * Ends the submission in the store if its workflow is gone; returns the final view, or
 * undefined when the workflow still runs (or Temporal cannot say).
 */
export async function reconcileSubmission(
  deps: ReconcileDeps,
  record: SubmissionRecord,
): Promise<SubmissionView | undefined> {
  if (record.final) return record.final;
  const end = await deps.gateway.submissionEnd(record.id);
  let final: SubmissionView;
  switch (end.status) {
    case 'running':
      return undefined;
    case 'completed':
      final = end.view;
      break;
    case 'missing':
      if (Date.now() - Date.parse(record.createdAt) < MISSING_GRACE_MS) return undefined;
      final = abortedView(
        skeleton(record),
        'its workflow no longer exists in Temporal (past retention, or it never started)',
        new Date().toISOString(),
      );
      break;
    case 'ended': {
      const last = await lastView(deps, record.id);
      final = abortedView(last ?? skeleton(record), end.reason, new Date().toISOString());
      break;
    }
  }
  try {
    await deps.store.finishSubmission(final);
  } catch (err) {
    // Someone (its workflow, another API server) recorded it meanwhile: theirs stands.
    if (err instanceof StoreError && err.code === 'conflict') return (await deps.store.getSubmission(record.id))?.final;
    throw err;
  }
  deps.log.warn('reconciled a submission whose workflow is gone', {
    id: record.id,
    result: final.result,
    how: end.status,
  });
  await deps.notifier?.submissionDone(final).catch((err: unknown) =>
    deps.log.error('could not enqueue the end of a reconciled submission for webhooks', {
      id: record.id,
      error: String(err),
    }),
  );
  return final;
}

/** Looks at every running submission; returns the ids it ended. */
export async function reconcileRunning(deps: ReconcileDeps, limit = 500): Promise<string[]> {
  const running = await deps.store.listSubmissions({ state: 'running', limit });
  const ended: string[] = [];
  // A few at a time: each is a describe (and for the gone, a history read) in Temporal.
  for (let i = 0; i < running.length; i += 8) {
    await Promise.all(
      running.slice(i, i + 8).map(async (s) => {
        const record = await deps.store.getSubmission(s.id);
        if (!record) return;
        const final = await reconcileSubmission(deps, record).catch((err: unknown) => {
          deps.log.warn('could not reconcile a submission', { id: s.id, error: String(err) });
          return undefined;
        });
        if (final) ended.push(s.id);
      }),
    );
  }
  return ended;
}

async function lastView(deps: ReconcileDeps, id: string): Promise<SubmissionView | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), LAST_QUERY_MS)));
  try {
    return await Promise.race([deps.gateway.querySubmission(id).catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the store alone knows of a running submission: its planned jobs, waiting. */
export function skeleton(record: SubmissionRecord): SubmissionView {
  const numbers = initialJobNumbers(record.plan);
  return {
    id: record.id,
    state: 'running',
    createdAt: record.createdAt,
    workflowId: submissionWorkflowId(record.id),
    ...(record.name !== undefined ? { name: record.name } : {}),
    recipeSets: [],
    jobs: record.plan.jobs.map((pj) => ({
      id: makeJobId(record.id, numbers.get(pj.name)!),
      name: pj.name,
      setNumber: pj.set + 1,
      attempt: 1,
      workerClass: pj.workerClass,
      state: 'waiting',
    })),
  };
}
