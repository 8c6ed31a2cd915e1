/**
 * @module Everything the API asks of Temporal: start a submission workflow, query its job
 * table, signal a cancel, and read or change the lab through the scheduler workflows (one
 * per pool: the lab's view merges them, and a host's operation goes to its pool's).
 */
import { randomUUID } from 'node:crypto';
import {
  ApplicationFailure,
  isGrpcServiceError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { HookAnswer, PowerAction } from '../activities/host/host-commands.js';
import type { temporal } from '@temporalio/proto';
import { ErrorType } from '../domain/errors.js';
import { CONTROL_TASK_QUEUE, DEFAULT_POOL, schedulerWorkflowId, submissionWorkflowId } from '../domain/ids.js';
import type { RunConfig } from '../domain/job-run.js';
import type { Plan } from '../domain/plan.js';
import type { RestartHistory } from '../domain/restart.js';
import type { BatchRunView, SubmissionView } from '../domain/views.js';
import { batchRunQuery } from '../workflows/batch-run-messages.js';
import { cancelSignal, type CancelRequest } from '../workflows/messages.js';
import { changeReservationUpdate, type ReservationChange } from '../workflows/reservation-messages.js';
import type { loanWorkflow, LoanInput, LoanResult } from '../workflows/loan.js';
import type { Reservation } from '../domain/reservation.js';
import { reservationQuery } from '../workflows/reservation-messages.js';
import {
  hostActionUpdate,
  labQuery,
  setPriorityUpdate,
  type HostActionRequest,
  type HostView,
  type LabView,
  type SchedulerConfig,
} from '../workflows/scheduler-messages.js';
import type { schedulerWorkflow } from '../workflows/scheduler.js';
import type { powerHostWorkflow } from '../workflows/power-host.js';
import { runningPools } from '../temporal/pools.js';
import { memoText, workflowSearchAttributes } from '../workflows/search-attributes.js';
import { submissionQuery } from '../workflows/submission-messages.js';
import type { UpdateDefinition } from '@temporalio/common';
import { HttpError } from './http-errors.js';

export class TemporalGateway {
  private labCache: { at: number; view: Promise<LabView>; running: boolean } | undefined;
  /** the query fresh reads wait for, when they came while one ran */
  private nextLab: Promise<LabView> | undefined;
  private poolCache: { at: number; pools: Promise<string[]> } | undefined;

  constructor(
    private readonly client: () => Promise<Client>,
    private readonly runConfig: RunConfig,
    /** given to a pool's scheduler this API starts (a submission for a pool no host registered in yet) */
    private readonly schedulerConfig: Partial<SchedulerConfig> = {},
  ) {}

  async startSubmission(
    submissionId: string,
    plan: Plan,
    createdAt: string,
    restart: { lineage?: Record<string, string>; restarted?: Record<string, RestartHistory> } = {},
    submittedBy?: string,
  ): Promise<string> {
    const client = await this.client();
    const workflowId = submissionWorkflowId(submissionId);
    const { lineage, restarted } = restart;
    // A pool no host has registered in has no scheduler yet: start it, so the submission's
    // requests are answered (denied: no host of that class) rather than wait for one.
    const pools = new Set(
      [...plan.recipeSets.map((s) => s.pool), ...plan.batchRuns.map((r) => r.pool)].filter(
        (p): p is string => p !== undefined && p !== DEFAULT_POOL,
      ),
    );
    for (const pool of pools) {
      await client.workflow.start<typeof schedulerWorkflow>('schedulerWorkflow', {
        workflowId: schedulerWorkflowId(pool),
        taskQueue: CONTROL_TASK_QUEUE,
        args: [{ pool, config: this.schedulerConfig }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
    }
    await client.workflow.start('submissionWorkflow', {
      workflowId,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [
        {
          submissionId,
          plan,
          config: this.runConfig,
          createdAt,
          ...(lineage ? { lineage } : {}),
          ...(restarted ? { restarted } : {}),
          ...(submittedBy !== undefined ? { submittedBy } : {}),
        },
      ],
      typedSearchAttributes: workflowSearchAttributes({
        submissionId,
        jobs: [...plan.jobs.map((j) => j.name), ...plan.batchRuns.map((r) => r.name)],
        workerClasses: [...plan.jobs.map((j) => j.workerClass), ...plan.batchRuns.map((r) => r.workerClass)],
      }),
      memo: { name: plan.name ?? '', jobs: memoText(plan.jobs.map((j) => j.name).join(', ')) },
    });
    return workflowId;
  }

  /** Whether the submission's workflow exists (after a start that failed ambiguously). */
  async submissionExists(submissionId: string): Promise<boolean> {
    const client = await this.client();
    try {
      await client.workflow.getHandle(submissionWorkflowId(submissionId)).describe();
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /**
   * How the submission's workflow stands: running; completed (with its final view);
   * ended without finishing (terminated, timed out, failed, cancelled) with Temporal's
   * reason; or missing (never started, or past retention).
   */
  async submissionEnd(submissionId: string): Promise<WorkflowEnd> {
    const client = await this.client();
    const handle = client.workflow.getHandle(submissionWorkflowId(submissionId));
    let status: string;
    try {
      status = (await handle.describe()).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { status: 'missing' };
      throw err;
    }
    if (status === 'RUNNING') return { status: 'running' };
    if (status === 'COMPLETED') return { status: 'completed', view: (await handle.result()) as SubmissionView };
    const { history } = await client.workflowService.getWorkflowExecutionHistoryReverse({
      namespace: client.options.namespace,
      execution: { workflowId: submissionWorkflowId(submissionId) },
      maximumPageSize: 1,
    });
    return { status: 'ended', reason: describeClose(status, history?.events?.[0]) };
  }

  /** The live job table, or undefined when the workflow is gone (past retention). */
  async querySubmission(submissionId: string): Promise<SubmissionView | undefined> {
    const client = await this.client();
    try {
      return await client.workflow.getHandle(submissionWorkflowId(submissionId)).query(submissionQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** A batch run's live view, or undefined when its workflow cannot be asked. */
  async queryBatchRun(workflowId: string): Promise<BatchRunView | undefined> {
    const client = await this.client();
    try {
      return await client.workflow.getHandle(workflowId).query(batchRunQuery);
    } catch {
      return undefined;
    }
  }

  /** Signals a cancel; false when the submission workflow has already ended. */
  async cancel(submissionId: string, request: CancelRequest): Promise<boolean> {
    const client = await this.client();
    const handle = client.workflow.getHandle(submissionWorkflowId(submissionId));
    try {
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') return false;
      await handle.signal(cancelSignal, request);
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /** The lab's pools (one running scheduler each), listed at most every 2 s. */
  private pools(): Promise<string[]> {
    const now = Date.now();
    if (!this.poolCache || now - this.poolCache.at > 2_000) {
      const pools = this.client().then(runningPools);
      this.poolCache = { at: now, pools };
      pools.catch(() => (this.poolCache = undefined));
    }
    return this.poolCache.pools;
  }

  /**
   * Every scheduler's view of the lab, merged (hosts and queue by pool). Polls (the live
   * stream, metrics, waiting reasons) share one view within half a second. A `fresh` read
   * (what a person or a decision reads) gets a view from a query started after the call, so
   * it shows every release that came before it, e.g. the host of a submission that just
   * ended; fresh reads that arrive while a query runs share the one that starts after it.
   */
  lab(read: { fresh?: boolean } = {}): Promise<LabView> {
    const cached = this.labCache;
    if (read.fresh) {
      if (!cached?.running) return this.startLabQuery();
      this.nextLab ??= cached.view
        .catch(() => undefined)
        .then(() => {
          this.nextLab = undefined;
          return this.startLabQuery();
        });
      return this.nextLab;
    }
    if (!cached || Date.now() - cached.at > 500) return this.startLabQuery();
    return cached.view;
  }

  private startLabQuery(): Promise<LabView> {
    const view = this.queryLab();
    const entry = { at: Date.now(), view, running: true };
    this.labCache = entry;
    view.then(
      () => (entry.running = false),
      () => {
        entry.running = false;
        if (this.labCache === entry) this.labCache = undefined;
      },
    );
    return view;
  }

  private async queryLab(): Promise<LabView> {
    const client = await this.client();
    const pools = await this.pools();
    const views = await Promise.all(
      pools.map(async (pool) => {
        try {
          return await client.workflow.getHandle(schedulerWorkflowId(pool)).query(labQuery);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          if (pool === DEFAULT_POOL)
            throw new HttpError(503, 'the scheduler is not running: start the control worker (`testbay control`)');
          // A pool's scheduler that ended since the listing: its hosts register again with a new one.
          this.poolCache = undefined;
          return undefined;
        }
      }),
    );
    return mergeLabViews(views.filter((v): v is LabView => v !== undefined));
  }

  /**
   * Runs the host's powerCommand with `action` and waits for its answer: undefined when the
   * host is not in the lab, a typed refusal when it did not run the command.
   */
  async powerHost(
    hostId: string,
    action: PowerAction,
    by: string,
  ): Promise<HookAnswer | { ran: false; unreachable: true; summary: string } | undefined> {
    const client = await this.client();
    if (!(await this.queryLab()).hosts.some((h) => h.id === hostId)) return undefined;
    try {
      return await client.workflow.execute<typeof powerHostWorkflow>('powerHostWorkflow', {
        workflowId: `testbay-power-${hostId}-${randomUUID().slice(0, 8)}`,
        taskQueue: CONTROL_TASK_QUEUE,
        args: [
          {
            hostId,
            action,
            by,
            pickupTimeoutMs: this.runConfig.hostPickupTimeoutMs,
            heartbeatTimeoutMs: this.runConfig.heartbeatTimeoutMs,
          },
        ],
      });
    } catch (err) {
      const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === ErrorType.HostUnreachable)
        return { ran: false, unreachable: true, summary: cause.message };
      throw err;
    }
  }

  async hostAction(request: HostActionRequest): Promise<HostView | null> {
    const client = await this.client();
    // The host's pool's scheduler holds it (a pool started since the last listing is listed
    // again); an unknown host goes to the default one, which says so.
    let host = (await this.queryLab()).hosts.find((h) => h.id === request.hostId);
    if (!host) {
      this.poolCache = undefined;
      host = (await this.queryLab()).hosts.find((h) => h.id === request.hostId);
    }
    const pool = host?.pool ?? DEFAULT_POOL;
    try {
      const result = await client.workflow
        .getHandle(schedulerWorkflowId(pool))
        .executeUpdate(hostActionUpdate, { args: [request] });
      this.labCache = undefined;
      return result;
    } catch (err) {
      throw updateRefusal(err, { [ErrorType.UnknownHost]: 404 }) ?? err;
    }
  }

  /**
   * Extends or releases a reservation through the workflow that holds it (a chain, a loan):
   * 409 when it holds none any more, 400 when an extension passes the cap.
   */
  async changeReservation(holder: string, change: ReservationChange): Promise<Reservation> {
    const client = await this.client();
    try {
      const result = await client.workflow.getHandle(holder).executeUpdate(changeReservationUpdate, { args: [change] });
      this.labCache = undefined;
      return result;
    } catch (err) {
      const refused = updateRefusal(err, { [ErrorType.ReservationCap]: 400 });
      if (refused) throw refused;
      if (err instanceof WorkflowNotFoundError || grpcCode(err) === NOT_FOUND)
        throw new HttpError(409, 'the reservation has ended');
      throw err;
    }
  }

  /** A queued request's new priority in its pool's scheduler: 409 when it is not queued (any more). */
  async setPriority(
    pool: string | undefined,
    requestId: string,
    priority: number,
  ): Promise<{ previous: number; priority: number }> {
    const client = await this.client();
    try {
      const result = await client.workflow
        .getHandle(schedulerWorkflowId(pool))
        .executeUpdate(setPriorityUpdate, { args: [{ requestId, priority }] });
      this.labCache = undefined;
      return result;
    } catch (err) {
      throw updateRefusal(err) ?? err;
    }
  }

  /**
   * Starts a loan of a host and waits until it holds the host (its reservation) or ended
   * without (the host did not become free): either way what it says.
   */
  async startLoan(workflowId: string, input: LoanInput): Promise<{ reservation: Reservation } | { refused: string }> {
    const client = await this.client();
    const handle = await client.workflow.start<typeof loanWorkflow>('loanWorkflow', {
      workflowId,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [input],
    });
    const ended = handle.result().then((r: LoanResult) => r);
    for (;;) {
      const done = await Promise.race([
        ended,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 200)),
      ]);
      if (done) return done.lent ? { refused: 'the loan ended at once' } : { refused: done.reason };
      const reservation = await handle.query(reservationQuery).catch(() => null);
      if (reservation) {
        this.labCache = undefined;
        return { reservation };
      }
    }
  }

  /**
   * A runner's barrier or message call, as an update of its recipe set's workflow. A set
   * whose workflow ended has no partners left to wait for: 403, like the job that ended.
   */
  async partnerUpdate<Ret, Arg>(
    recipeSetWorkflowId: string,
    update: UpdateDefinition<Ret, [Arg]>,
    arg: Arg,
  ): Promise<Ret> {
    const client = await this.client();
    try {
      return await client.workflow.getHandle(recipeSetWorkflowId).executeUpdate(update, { args: [arg] });
    } catch (err) {
      const refused = updateRefusal(err, { [ErrorType.NotAPartner]: 400 });
      if (refused) throw refused;
      if (err instanceof WorkflowNotFoundError || grpcCode(err) === NOT_FOUND)
        throw new HttpError(403, "the job's recipe set has ended: its partners are gone");
      // More calls waiting at once than Temporal takes updates in flight (10): the caller tries again.
      if (grpcCode(err) === RESOURCE_EXHAUSTED)
        throw new HttpError(503, 'too many partner calls of this recipe set wait at once: try again');
      throw err;
    }
  }
}

/**
 * One view of the lab from each pool's scheduler (the default pool's first): hosts grouped
 * by pool, the queues one after another.
 */
export function mergeLabViews(views: readonly LabView[]): LabView {
  return {
    hosts: views.flatMap((v) => v.hosts),
    queue: views.flatMap((v) => v.queue),
    runId: views[0]?.runId ?? '',
    pools: views.flatMap((v) => v.pools),
  };
}

/**
 * gRPC statuses: INVALID_ARGUMENT (Temporal refused what it was given, not that it is down),
 * NOT_FOUND (an update of a workflow that completed), RESOURCE_EXHAUSTED (too many updates in flight).
 */
/**
 * An update the workflow refused, as the HTTP error to answer with: the refusal's message,
 * and the status `statuses` gives its ErrorType (409, a conflict with the workflow's state,
 * for any other). Undefined for anything that is not a refusal.
 */
function updateRefusal(err: unknown, statuses: Partial<Record<ErrorType, number>> = {}): HttpError | undefined {
  if (!(err instanceof WorkflowUpdateFailedError)) return undefined;
  const { cause } = err;
  const status = cause instanceof ApplicationFailure && cause.type ? statuses[cause.type as ErrorType] : undefined;
  return new HttpError(status ?? 409, cause instanceof Error ? cause.message : err.message);
}

const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const RESOURCE_EXHAUSTED = 8;

/** The gRPC status of a Temporal call's error (or of its cause), if it has one. */
function grpcCode(err: unknown): number | undefined {
  const grpc = isGrpcServiceError(err)
    ? err
    : err instanceof Error && isGrpcServiceError(err.cause)
      ? err.cause
      : undefined;
  return grpc === undefined ? undefined : Number(grpc.code);
}

/** True when Temporal answered and refused the request (a limit, a bad value), rather than being unreachable. */
export function isTemporalRefusal(err: unknown): boolean {
  return grpcCode(err) === INVALID_ARGUMENT;
}

export type WorkflowEnd =
  | { status: 'running' }
  | { status: 'missing' }
  | { status: 'completed'; view: SubmissionView }
  | { status: 'ended'; reason: string };

type HistoryEvent = NonNullable<NonNullable<temporal.api.history.v1.IHistory['events']>[number]>;

/** Temporal's own words for how a workflow ended without finishing. */
function describeClose(status: string, event: HistoryEvent | undefined): string {
  const terminated = event?.workflowExecutionTerminatedEventAttributes;
  if (terminated)
    return `its workflow was terminated${terminated.identity ? ` by ${terminated.identity}` : ''}${terminated.reason ? `: ${terminated.reason}` : ''}`;
  const failed = event?.workflowExecutionFailedEventAttributes?.failure;
  if (failed) return `its workflow failed: ${failed.message ?? 'no message'}`;
  if (event?.workflowExecutionTimedOutEventAttributes) return 'its workflow timed out';
  if (event?.workflowExecutionCanceledEventAttributes) return 'its workflow was cancelled in Temporal';
  return `its workflow ended (${status.toLowerCase().replace(/_/g, ' ')}) without recording a result`;
}
