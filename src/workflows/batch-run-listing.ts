/**
 * @module A batch run's testsCommand: run on one leased host, its list moved to the
 * result store in chunks. Part of batchRunWorkflow (batch-run.ts), which leases the host
 * and continues as new when asked; the chunks pass through the workflow's history, so a
 * long list continues as new on the way, the listing and its lease carried along.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';
import type { HostActivities } from '../activities/host/index.js';
import type { BatchRunCarry } from '../domain/batch-run.js';
import type { RunConfig } from '../domain/job-run.js';
import { CONTROL_TASK_QUEUE, hostTaskQueue } from '../domain/ids.js';
import type { PlanBatchRun } from '../domain/plan.js';
import { releaseLease } from './lease-client.js';

/** A listing moves chunks of ids through this run's history; past this it continues as new. */
const LISTING_HISTORY_BYTES = 2 * 1024 * 1024;

const control = proxyActivities<ControlActivities>({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

export interface ListingContext {
  run: PlanBatchRun;
  config: RunConfig;
  submissionId: string;
  runJobId: string;
  carry: BatchRunCarry;
  /** a person's cancel, if any (read each time: signals change it) */
  stopped: () => string | undefined;
  /** one leased host for the command, or why there is none */
  leaseHost: () => Promise<{ grant?: { hostId: string; token: string }; denied?: string }>;
  /** cancellable scopes the run's cancel cancels */
  scopes: Set<CancellationScope>;
  /** continues the workflow as new with the carry */
  nextRun: () => Promise<never>;
}

function failureMessage(err: unknown): string {
  return err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
}

/** Runs testsCommand on one leased host and moves its list to the result store; false when it could not. */
export async function listTests(ctx: ListingContext): Promise<boolean> {
  const { run, config, submissionId, runJobId, carry } = ctx;
  if (!carry.listing) {
    const { grant, denied } = await ctx.leaseHost();
    if (!grant) {
      if (ctx.stopped() === undefined) carry.reason = `could not list the tests: ${denied ?? 'no host'}`;
      return false;
    }
    // A cancel stops the command on the host (its process group), not only the wait for it.
    const scope = new CancellationScope();
    ctx.scopes.add(scope);
    try {
      const listed = await scope.run(() =>
        proxyActivities<HostActivities>({
          taskQueue: hostTaskQueue(grant.hostId),
          scheduleToStartTimeout: config.hostPickupTimeoutMs,
          heartbeatTimeout: config.heartbeatTimeoutMs,
          startToCloseTimeout: '10 minutes',
          retry: { maximumAttempts: 2 },
          cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        }).listTests({
          command: run.testsCommand!,
          settings: run.settings,
          hostId: grant.hostId,
          batchRunName: run.name,
          submissionId,
          runJobId,
        }),
      );
      carry.listing = { hostId: grant.hostId, token: grant.token, listed, next: 0 };
    } catch (err) {
      if (ctx.stopped() === undefined)
        carry.reason = `could not list the tests on ${grant.hostId}: ${failureMessage(err)}`;
      await releaseLease(run.pool, grant.hostId, grant.token, []);
      return false;
    } finally {
      ctx.scopes.delete(scope);
    }
  }
  const listing = carry.listing;
  const done = () => listing.next >= listing.listed.chunks.length;
  while (!done() && ctx.stopped() === undefined) {
    const chunk = listing.listed.chunks[listing.next]!;
    try {
      const tests = await proxyActivities<HostActivities>({
        taskQueue: hostTaskQueue(listing.hostId),
        scheduleToStartTimeout: config.hostPickupTimeoutMs,
        startToCloseTimeout: '2 minutes',
        retry: { maximumAttempts: 2 },
      }).readListedTests({ listFile: listing.listed.listFile, offset: chunk.offset, count: chunk.count });
      await control.appendBatchTests({ submissionId, runName: run.name, offset: chunk.offset, tests });
    } catch (err) {
      carry.reason = `could not list the tests on ${listing.hostId}: ${failureMessage(err)}`;
      break;
    }
    listing.next++;
    // The chunks pass through this history: a long list continues as new on the way (the lease goes along).
    if (!done() && workflowInfo().historySize > LISTING_HISTORY_BYTES) await ctx.nextRun();
  }
  delete carry.listing;
  await releaseLease(run.pool, listing.hostId, listing.token, []);
  if (carry.reason !== undefined) return false;
  if (ctx.stopped() !== undefined) return false;
  carry.total = listing.listed.count;
  // The listing's chunks stay behind in this run's history.
  if (listing.listed.chunks.length > 1) await ctx.nextRun();
  return true;
}
