/**
 * @module chainStops: how a chain's jobs are stopped. Every cancellable host activity runs in
 * a cancellation scope kept by job (`onHost`, which also turns a failure into the job's
 * result): a stop of the whole chain (`requestStop`: a cancel, a partner's stop) cancels them
 * all, `cancelJob` one job's, with what it ends as instead of `cancelled` (`stopped`).
 */
import { CancellationScope, isCancellation as isWorkflowCancellation } from '@temporalio/workflow';
import { stoppedAs, type ChainJobRef, type ChainState, type ChainStop } from '../domain/chain.js';
import type { RunConfig } from '../domain/job-run.js';
import type { JobResult } from '../domain/outcome.js';
import { resultOfFailure, type Phase } from './failures.js';

/** A host activity's value, or the job's result when it failed. */
export type Attempt<T> = { ok: true; value: T } | { ok: false; result: JobResult };

export type ChainStops = ReturnType<typeof chainStops>;

/** The stops of one chain: `state.stop` is set by `requestStop`. */
export function chainStops(state: ChainState, config: RunConfig) {
  const { hostId } = state;
  /** Cancellable host activities by job id: a stop cancels them all, a failed parent one. */
  const scopes = new Map<string, Set<CancellationScope>>();
  /** What a job stopped on purpose ends as, instead of `cancelled`. */
  const overrides = new Map<string, JobResult>();
  const cancelJob = (jobId: string, as: JobResult) => {
    if (!overrides.has(jobId)) overrides.set(jobId, as);
    for (const scope of scopes.get(jobId) ?? []) scope.cancel();
  };
  const requestStop = (s: ChainStop) => {
    state.stop ??= s;
    for (const set of scopes.values()) for (const scope of set) scope.cancel();
  };

  /** The result a job cancelled on purpose ends with. */
  const stopped = (job: ChainJobRef): JobResult | undefined => stoppedAs(state, overrides.get(job.id));

  /** Runs one host activity for a job, cancellable by a stop; a failure becomes a job result. */
  const onHost = async <T>(
    phase: Phase,
    job: ChainJobRef,
    phaseTimeoutMs: number,
    fn: () => Promise<T>,
    cancellable = true,
  ): Promise<Attempt<T>> => {
    const scope = cancellable ? new CancellationScope() : undefined;
    if (scope) scopes.set(job.id, new Set([...(scopes.get(job.id) ?? []), scope]));
    try {
      return { ok: true, value: await (scope ? scope.run(fn) : CancellationScope.nonCancellable(fn)) };
    } catch (err) {
      if (isWorkflowCancellation(err) && !state.stop && !overrides.has(job.id))
        requestStop({ kind: 'cancelled', reason: 'cancelled' });
      const result = resultOfFailure(err, {
        hostId,
        jobName: job.name,
        phase,
        heartbeatTimeoutMs: config.heartbeatTimeoutMs,
        pickupTimeoutMs: config.hostPickupTimeoutMs,
        phaseTimeoutMs,
        now: Date.now(),
      });
      return { ok: false, result: result.kind === 'cancelled' ? (stopped(job) ?? result) : result };
    } finally {
      if (scope) scopes.get(job.id)?.delete(scope);
    }
  };

  /** What the job is to end as when it was stopped on purpose (by `cancelJob`). */
  const overrideOf = (jobId: string): JobResult | undefined => overrides.get(jobId);

  return { cancelJob, requestStop, stopped, overrideOf, onHost };
}
