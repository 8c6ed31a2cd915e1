/**
 * @module A submission as people see it: the workflow's job table (or the stored final
 * one), enriched with what hosts uploaded (state, progress, times), with the scheduler's
 * reason for every job still waiting for a host, and for jobs waiting their turn on a
 * host, the chain job they wait for.
 */
import type { BatchRunView, JobView, SubmissionView } from '../domain/views.js';
import type { Logger } from '../logger.js';
import { HttpError } from './http-errors.js';
import { reconcileSubmission, skeleton } from './reconcile.js';
import type { ResultStore } from './store/result-store.js';
import type { TemporalGateway } from './temporal-gateway.js';
import { withChainReasons } from './waiting.js';

export interface ViewDeps {
  store: ResultStore;
  gateway: TemporalGateway;
  log: Logger;
}

export async function liveSubmissionView(deps: ViewDeps, id: string): Promise<SubmissionView> {
  const record = await deps.store.getSubmission(id);
  if (!record) throw new HttpError(404, `no submission ${id}`);
  let view = record.final;
  if (!view) {
    // Its workflow may be gone (terminated by hand): then it ends here, not stays running.
    const [live, reconciled] = await Promise.all([
      deps.gateway.querySubmission(id).catch((err: unknown) => {
        deps.log.warn('could not query submission', { id, error: String(err) });
        return undefined;
      }),
      reconcileSubmission(deps, record).catch((err: unknown) => {
        deps.log.warn('could not ask Temporal how the submission stands', { id, error: String(err) });
        return undefined;
      }),
    ]);
    view = reconciled ?? live;
  }
  view ??= {
    ...skeleton(record),
    notice: 'live state unavailable: Temporal could not be reached; showing what the result store knows',
  };
  const jobs = withChainReasons(await Promise.all(view.jobs.map((j) => enrichJob(deps, j))), record.plan);
  const batchRuns = view.batchRuns
    ? await Promise.all(
        view.batchRuns.map(async (r) =>
          r.state === 'done' ? r : withCurrentTests(deps, (await deps.gateway.queryBatchRun(r.workflowId)) ?? r),
        ),
      )
    : undefined;
  const waiting = view.recipeSets.filter((s) => s.state === 'leasing');
  if (waiting.length > 0) {
    const lab = await deps.gateway.lab().catch(() => undefined);
    for (const set of waiting) {
      const entry = lab?.queue.find((q) => q.requestId === set.workflowId);
      if (!entry) continue;
      for (const j of jobs)
        if (j.setNumber === set.number && j.state === 'waiting') j.waitingReason = entry.waitingReason;
    }
  }
  return {
    ...view,
    jobs,
    ...(batchRuns ? { batchRuns } : {}),
    ...(record.restartOf ? { restartOf: record.restartOf } : {}),
    ...(record.restartedAs ? { restartedAs: record.restartedAs } : {}),
    ...(record.keep ? { keep: true } : {}),
  };
}

async function enrichJob(deps: ViewDeps, job: JobView): Promise<JobView> {
  const record = await deps.store.getJob(job.id);
  if (!record) return job;
  const j: JobView = { ...job, hostId: record.hostId, startedAt: record.startedAt ?? record.openedAt };
  if (job.state !== 'done') j.state = record.state;
  if (record.endedAt) j.endedAt = record.endedAt;
  if (record.progress) j.progress = record.progress;
  if (!j.result && record.result) j.result = record.result;
  // Opened on a host: it no longer waits for parents or a host (a chain's turn is added later).
  delete j.waitingReason;
  return j;
}

/** The test each batch out on a host runs now: the host reports it as its batch record's progress. */
async function withCurrentTests(deps: ViewDeps, run: BatchRunView): Promise<BatchRunView> {
  const running = await Promise.all(
    run.running.map(async (b) => {
      const current = (await deps.store.getJob(b.batchId))?.progress?.module;
      return current !== undefined ? { ...b, current } : b;
    }),
  );
  return { ...run, running };
}
