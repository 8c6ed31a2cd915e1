/**
 * @module recipeSetWorkflow: one attempt of a recipe set. It asks the scheduler for one lease
 * per recipe (all-or-nothing), then runs one chain per leased host, all started together.
 * In a parallel set, a failed or aborted job stops its partners (skipped, with the
 * reason). It returns every job's result; re-scheduling is the submission's decision.
 *
 * The chains are started in recipe-set-chains.ts, the partners' barriers and messages are
 * answered in recipe-set-partners.ts, and what every job ends with is decided in
 * domain/recipe-set.ts.
 */
import {
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { RunConfig } from '../domain/job-run.js';
import type { RecipeRequest } from '../domain/lab.js';
import { AbortCause, partnerDidNotPass, summarize, type JobResult } from '../domain/outcome.js';
import { cancelledBeforeStart, everyJobEndsAs, resultsOfChains } from '../domain/recipe-set.js';
import type { Requirement } from '../domain/requirements.js';
import type { chainWorkflow, ChainJob } from './chain.js';
import { chainFaultSignal, partnerStopSignal, setLeasedSignal } from './chain-messages.js';
import { cancelSignal } from './messages.js';
import { onLeaseAnswers, releaseLease, requestLease, withdrawLeaseRequests, type LeaseGrant } from './lease-client.js';
import { startChains } from './recipe-set-chains.js';
import { partnerBoard } from './recipe-set-partners.js';
import { fitList, HostKey, ResultKey } from './search-attributes.js';
import { Pending, tell } from './signal.js';

export interface RecipeInput {
  workerClass: string;
  hostRequires: Requirement[];
  jobs: ChainJob[];
  /** the one host the recipe may run on (its jobs' `host:`) */
  hostId?: string;
}

export interface RecipeSetInput {
  submissionId: string;
  setNumber: number;
  attempt: number;
  label: string;
  recipes: RecipeInput[];
  excludedHosts: string[];
  previousHosts: string[];
  priority: number;
  queueTimeoutMs?: number;
  config: RunConfig;
  /** workflow id of the submission, told when the hosts are leased */
  submissionWorkflowId: string;
  /** a health check: lease only this host, even though it is broken */
  healthCheckOf?: string;
  /** the pool whose scheduler leases the hosts; absent = `default` */
  pool?: string;
  /** false: a failed or aborted job leaves its partners running (absent: they are stopped) */
  stopPartnersOnFailure?: false;
  /** who submitted it: a reservation after its jobs is theirs */
  submittedBy?: string;
}

export interface RecipeSetResult {
  /** by job id */
  results: Record<string, JobResult>;
  /** leased host per recipe; empty when no lease was granted */
  hosts: string[];
  /** set when the scheduler said no host could ever take this set */
  denied?: string;
}

export async function recipeSetWorkflow(input: RecipeSetInput): Promise<RecipeSetResult> {
  // Leases handed straight back (a grant that came too late) are sent before this returns.
  const handedBack = new Pending();
  try {
    const result = await runRecipeSet(input, handedBack);
    upsertSearchAttributes([{ key: ResultKey, value: summarize(Object.values(result.results)) }]);
    return result;
  } finally {
    await handedBack.drain();
  }
}

async function runRecipeSet(input: RecipeSetInput, handedBack: Pending): Promise<RecipeSetResult> {
  const requestId = workflowInfo().workflowId;
  let grant: LeaseGrant | undefined;
  let denied: string | undefined;
  let stop: { reason: string; jobId?: string } | undefined;
  let chains: ChildWorkflowHandle<typeof chainWorkflow>[] = [];
  const stopped = new Set<number>();
  // Barriers and messages between the set's runners (updates through the API).
  const board = partnerBoard(input.recipes);

  onLeaseAnswers({
    granted: (g) => {
      if (g.requestId !== requestId) return;
      if (grant || stop) {
        // A grant after we gave up waiting (a stop, the queue timeout): hand the hosts straight back.
        for (const l of g.leases) {
          handedBack.add(
            releaseLease(input.pool, l.hostId, l.token).catch((err: unknown) =>
              log.warn('could not hand back a late grant', { hostId: l.hostId, error: String(err) }),
            ),
          );
        }
        return;
      }
      grant = g;
    },
    denied: (d) => {
      if (d.requestId === requestId) denied = d.reason;
    },
  });

  /** Stops one chain (cancelled), its partners skipped; or every chain. A chain may have ended already. */
  const stopChains = (reason: string, jobId?: string) => {
    const target = jobId === undefined ? -1 : input.recipes.findIndex((r) => r.jobs.some((j) => j.id === jobId));
    input.recipes.forEach((recipe, i) => {
      const handle = chains[i];
      if (!handle || stopped.has(i)) return;
      stopped.add(i);
      if (target === -1 || i === target) {
        tell(handle, cancelSignal, { reason });
      } else {
        const name = input.recipes[target]!.jobs.find((j) => j.id === jobId)?.name ?? jobId ?? '';
        tell(handle, partnerStopSignal, { reason: partnerDidNotPass(name, 'cancelled') });
      }
    });
  };
  setHandler(cancelSignal, (req) => {
    stop ??= { reason: req.reason ?? 'cancelled', ...(req.jobId ? { jobId: req.jobId } : {}) };
    stopChains(req.reason ?? 'cancelled', req.jobId);
  });
  setHandler(chainFaultSignal, ({ hostId, jobName, result }) => {
    if (input.recipes.length < 2 || input.stopPartnersOnFailure === false) return;
    const from = grant?.leases.findIndex((l) => l.hostId === hostId) ?? -1;
    chains.forEach((handle, i) => {
      if (i === from || stopped.has(i)) return;
      stopped.add(i);
      // The partner's chain may have ended already (it failed at the same moment): that is fine.
      tell(handle, partnerStopSignal, { reason: partnerDidNotPass(jobName, result.kind) });
    });
  });

  const everyJob = (result: JobResult): RecipeSetResult => ({
    results: everyJobEndsAs(input.recipes, result),
    hosts: [],
  });

  // 1. Lease: ask the scheduler, wait for its answer, a stop, or the queue timeout.
  const recipes: RecipeRequest[] = input.recipes.map((r) => ({
    workerClass: r.workerClass,
    hostRequires: r.hostRequires,
    excludedHosts: input.excludedHosts,
    previousHosts: input.previousHosts,
    ...(r.hostId !== undefined ? { hostId: r.hostId } : {}),
  }));
  await requestLease(input.pool, {
    requestId,
    requester: requestId,
    label: input.label,
    priority: input.priority,
    recipes,
    ...(input.healthCheckOf !== undefined ? { healthCheckOf: input.healthCheckOf } : {}),
  });
  let inTime = true;
  try {
    inTime = await condition(
      () => grant !== undefined || denied !== undefined || stop !== undefined,
      input.queueTimeoutMs,
    );
  } catch (err) {
    if (!isCancellation(err)) throw err;
    stop ??= { reason: 'recipe set workflow cancelled' };
  }
  if (!grant) {
    // The request is withdrawn from here on: a grant that crosses the withdrawal goes back.
    const queueTimeout = `waited in the queue longer than queueTimeoutMs (${Math.round((input.queueTimeoutMs ?? 0) / 1000)} s)`;
    stop ??= { reason: denied ?? queueTimeout };
    await withdrawLeaseRequests(input.pool, [requestId]);
    if (denied !== undefined) {
      return { ...everyJob({ kind: 'aborted', cause: AbortCause.NoHostLeft, reason: denied }), denied };
    }
    if (!inTime) return everyJob({ kind: 'cancelled', reason: queueTimeout });
    return { results: cancelledBeforeStart(input.recipes, stop.reason, stop.jobId), hosts: [] };
  }
  const leases = grant.leases;
  const hosts = leases.map((l) => l.hostId);
  upsertSearchAttributes([{ key: HostKey, value: fitList(hosts) }]);
  // Not awaited: the chains start in the same workflow task (the submission only shows it).
  tell(getExternalWorkflowHandle(input.submissionWorkflowId), setLeasedSignal, { setNumber: input.setNumber, hosts });

  // 2. Run one chain per host, all started together; each chain releases its own lease.
  try {
    chains = await startChains(input, leases, requestId);
  } catch (err) {
    // Nothing started (or only some): give back the leases of chains that are not running.
    for (const [i, l] of leases.entries()) if (!chains[i]) await releaseLease(input.pool, l.hostId, l.token);
    throw err;
  }
  if (stop) stopChains(stop.reason, stop.jobId);

  const settled = await Promise.allSettled(chains.map((c, i) => c.result().finally(() => board.ended(i))));
  // A chain that ended without running its own cleanup (terminated in Temporal Web) still
  // holds its lease: give it back (a release with a token no longer current is ignored).
  for (const [i, s] of settled.entries())
    if (s.status === 'rejected') await releaseLease(input.pool, leases[i]!.hostId, leases[i]!.token);
  const results = resultsOfChains(input.recipes, hosts, settled);
  return { results, hosts };
}
