/**
 * @module chain: the decisions of one host's chain of jobs (`chainWorkflow`), pure and with
 * no Temporal in them: whether a job may run given what is known so far, what a stopped job
 * ends as, which jobs a host loss or a failed upload stops, and how final results are
 * batched on their way to the store; and the `ChainJob` a chain is given. The workflow
 * carries them out.
 */
import type { Job } from './job.js';
import { AbortCause, hostLostBefore, parentDidNotPass, type JobResult } from './outcome.js';
import type { ReserveSpec } from './reservation.js';

/** What the chain's decisions need to know of a job. */
export interface ChainJobRef {
  id: string;
  name: string;
  /** name of the job this one runs directly after */
  chainParent?: string;
  /** set when the job must not run (a startAfter parent did not pass) */
  preSkipped?: string;
}

export type JobRunSpec = Pick<
  Job,
  'runner' | 'settings' | 'secrets' | 'timeoutMs' | 'provisionTimeoutMs' | 'outputTimeoutMs' | 'assets' | 'tests'
>;

/** A job as its chain gets it: where it runs in the chain, and what the host needs to run it. */
export interface ChainJob extends ChainJobRef {
  /** TESTBAY_ROLE; absent: its name */
  role?: string;
  /** keep the host for a person after this job, when its result says so */
  reserve?: ReserveSpec;
  spec: JobRunSpec;
}

/** A stop of the whole chain: a cancel, or a partner's stop. */
export type ChainStop = { kind: 'cancelled' | 'skipped'; reason: string };

/** What the chain knows while it runs. */
export interface ChainState {
  hostId: string;
  /** the chain's jobs by name */
  byName: ReadonlyMap<string, ChainJobRef>;
  stop?: ChainStop;
  /** name of the job during which the host was lost */
  lost?: string;
}

/** How many jobs beyond the next are provisioned ahead of their turn. */
export const PREPARE_AHEAD = 4;
/** How many runs wait on the host behind the one running. */
export const RUNS_QUEUED = 3;
/** Time runTests gets beyond the job's timeoutMs to stop the runner and report. */
export const RUN_DEADLINE_MARGIN_MS = 60_000;

export function parentOf(state: ChainState, job: ChainJobRef): ChainJobRef | undefined {
  return job.chainParent === undefined ? undefined : state.byName.get(job.chainParent);
}

/** A job below a parent that did not pass. */
export function skippedBelow(parent: ChainJobRef, r: JobResult): JobResult {
  return { kind: 'skipped', reason: parentDidNotPass(parent.name, r.kind) };
}

/** A job that never started because the host was lost during `lost`. */
export function lostBefore(hostId: string, lost: string, job: ChainJobRef): JobResult {
  return { kind: 'aborted', cause: AbortCause.HostLost, reason: hostLostBefore(hostId, lost, job.name) };
}

/** Why the job must not run, given the results known so far; undefined when it may. */
export function blocked(
  state: ChainState,
  job: ChainJobRef,
  known: Readonly<Record<string, JobResult>>,
): JobResult | undefined {
  if (job.preSkipped !== undefined) return { kind: 'skipped', reason: job.preSkipped };
  // A stop (cancel, partner stop) ends the whole chain with its own reason.
  if (state.stop) return { ...state.stop };
  const parent = parentOf(state, job);
  const parentResult = parent ? known[parent.id] : undefined;
  if (parent && parentResult && parentResult.kind !== 'passed') return skippedBelow(parent, parentResult);
  if (state.lost !== undefined) return lostBefore(state.hostId, state.lost, job);
  return undefined;
}

/** The result a job cancelled on purpose ends with: its own override, else the chain's stop. */
export function stoppedAs(state: ChainState, override: JobResult | undefined): JobResult | undefined {
  return override ?? (state.stop ? { ...state.stop } : undefined);
}

/** The jobs to stop when the host was lost during `job`: every other one without a final result. */
export function queuedBehindLoss<J extends ChainJobRef>(
  jobs: readonly J[],
  job: J,
  results: Readonly<Record<string, JobResult>>,
): J[] {
  return jobs.filter((later) => later !== job && !results[later.id]);
}

/**
 * The children to stop after a job's uploads: a child starts on its parent's runner verdict,
 * so when that passed and the final result (after uploads) did not, the children must stop.
 */
export function childrenToStop<J extends ChainJobRef>(
  jobs: readonly J[],
  job: J,
  ran: JobResult,
  final: JobResult,
): J[] {
  if (final.kind === 'passed' || ran.kind !== 'passed') return [];
  return jobs.filter((child) => child.chainParent === job.name);
}

/** The backstop deadline of a run that waits on the host behind `afterTimeoutMs`'s run. */
export function runDeadlineMs(timeoutMs: number, afterTimeoutMs?: number): number {
  return (
    timeoutMs + RUN_DEADLINE_MARGIN_MS + (afterTimeoutMs === undefined ? 0 : afterTimeoutMs + RUN_DEADLINE_MARGIN_MS)
  );
}

/** Whether a job needs the provision activity: it has assets or test code to fetch. */
export function needsProvision(spec: { assets: readonly unknown[]; tests?: unknown }): boolean {
  return spec.assets.length > 0 || Boolean(spec.tests);
}

/** Whether a job's results still need an upload after its run. */
export function needsUpload(
  r: { result: JobResult; provisioned: boolean; notStarted?: boolean | undefined; uploaded?: unknown },
  isHostLost: (r: JobResult) => boolean,
): boolean {
  return r.provisioned && !isHostLost(r.result) && !r.notStarted && !r.uploaded;
}

/**
 * A job's final result after a failed upload: a passed job fails with the upload's result;
 * any other keeps its own verdict (`warn` says so).
 */
export function afterFailedUpload(ran: JobResult, upload: JobResult): { result: JobResult; warn: boolean } {
  return ran.kind === 'passed' ? { result: upload, warn: false } : { result: ran, warn: true };
}

/**
 * Final results go to the store in batches: whatever ended while the last batch was on its
 * way. One batch is in flight at a time.
 */
export class ResultBatches<T> {
  private waiting: T[] = [];
  private inFlight = false;

  add(item: T): void {
    this.waiting.push(item);
  }

  /** The next batch to send, or undefined when one is in flight or nothing waits. */
  take(): T[] | undefined {
    if (this.inFlight || this.waiting.length === 0) return undefined;
    this.inFlight = true;
    return this.waiting.splice(0);
  }

  /** The batch in flight has been sent (or given up on). */
  sent(): void {
    this.inFlight = false;
  }
}
