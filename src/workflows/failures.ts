/**
 * @module One mapper from what Temporal reports about a failed host activity to a job
 * result with a typed abort cause, so no caller parses messages; and for a batch of a
 * batch run, to how the batch ended and what its last heartbeat says had finished.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  isCancellation as isWorkflowCancellation,
  TimeoutFailure,
} from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import type { BatchEnd, TestReport } from '../domain/batch-ledger.js';
import type { BatchProgress } from '../domain/batch-work.js';
import { ErrorType } from '../domain/errors.js';
import { AbortCause, type JobResult } from '../domain/outcome.js';

export type Phase = 'provision' | 'run' | 'upload';

export interface FailureContext {
  hostId: string;
  jobName: string;
  phase: Phase;
  heartbeatTimeoutMs: number;
  pickupTimeoutMs: number;
  /** the phase's own deadline */
  phaseTimeoutMs: number;
  now: number;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
const phaseWords: Record<Phase, string> = { provision: 'provisioning', run: 'running', upload: 'uploading results of' };

export function isCancellation(err: unknown): boolean {
  return err instanceof CancelledFailure || (err instanceof ActivityFailure && err.cause instanceof CancelledFailure);
}

/** Maps a host activity failure to an aborted (or cancelled) result with a typed cause. */
export function resultOfFailure(err: unknown, ctx: FailureContext): JobResult {
  if (isCancellation(err)) return { kind: 'cancelled', reason: 'cancelled' };
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const doing = `${phaseWords[ctx.phase]} \`${ctx.jobName}\``;
  if (cause instanceof TimeoutFailure) {
    switch (cause.timeoutType) {
      case TimeoutType.HEARTBEAT: {
        const lastSeen = new Date(ctx.now - ctx.heartbeatTimeoutMs).toISOString().slice(11, 19);
        return {
          kind: 'aborted',
          cause: AbortCause.HostLost,
          reason: `host ${ctx.hostId} stopped heartbeating at ${lastSeen} while ${doing} (no heartbeat for ${seconds(ctx.heartbeatTimeoutMs)})`,
        };
      }
      case TimeoutType.SCHEDULE_TO_START:
        return {
          kind: 'aborted',
          cause: AbortCause.HostLost,
          reason: `host ${ctx.hostId} did not pick up \`${ctx.jobName}\` within ${seconds(ctx.pickupTimeoutMs)}`,
        };
      default: {
        const causeByPhase = {
          provision: AbortCause.SetupTimeout,
          run: AbortCause.RunTimeout,
          upload: AbortCause.Upload,
        } as const;
        return {
          kind: 'aborted',
          cause: causeByPhase[ctx.phase],
          reason: `${doing} took longer than ${seconds(ctx.phaseTimeoutMs)}`,
        };
      }
    }
  }
  if (cause instanceof ApplicationFailure) {
    const byType: Record<string, AbortCause> = {
      [ErrorType.Asset]: AbortCause.Asset,
      [ErrorType.TestCode]: AbortCause.TestCode,
      [ErrorType.Provision]: AbortCause.Provision,
      [ErrorType.BrokenSetup]: AbortCause.BrokenSetup,
      [ErrorType.Upload]: AbortCause.Upload,
      [ErrorType.LeaseRevoked]: AbortCause.Upload,
      [ErrorType.HostShutdown]: AbortCause.HostShutdown,
    };
    const typed = cause.type ? byType[cause.type] : undefined;
    if (typed) return { kind: 'aborted', cause: typed, reason: cause.message };
  }
  // An error nobody typed is not proof that the host is bad (it may be a Testbay bug):
  // while provisioning it is `internal`, which counts towards the host's consecutive aborts
  // instead of breaking the host at once as a typed provisioning failure does.
  const fallback = { provision: AbortCause.Internal, run: AbortCause.RunnerCrash, upload: AbortCause.Upload } as const;
  const message = cause instanceof Error ? cause.message : String(cause);
  const how = fallback[ctx.phase] === AbortCause.Internal ? 'failed unexpectedly' : 'failed';
  return { kind: 'aborted', cause: fallback[ctx.phase], reason: `${doing} on host ${ctx.hostId} ${how}: ${message}` };
}

/** True when the result says the host itself is gone, so nothing more can run on it. */
export function isHostLost(result: JobResult): boolean {
  return (
    result.kind === 'aborted' && (result.cause === AbortCause.HostLost || result.cause === AbortCause.HostShutdown)
  );
}

/** What a batch's last heartbeat said had finished (Temporal returns it with a timeout). */
function heartbeatDetails(err: unknown): BatchProgress | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  const details = cause instanceof TimeoutFailure ? cause.lastHeartbeatDetails : undefined;
  if (typeof details !== 'object' || details === null || !Array.isArray((details as BatchProgress).results))
    return undefined;
  return details as BatchProgress;
}

/**
 * How a batch whose runBatch activity failed ended, and the results its last heartbeat
 * reported. `stop`: a person's cancel, if any (only that makes a batch `cancelled`).
 */
export function batchEndOfFailure(
  err: unknown,
  ctx: FailureContext & { batchId: string; stop: string | undefined },
): { results: TestReport[]; end: BatchEnd } {
  // The batch died with its host (or timed out): the last heartbeat says what finished.
  const details = heartbeatDetails(err);
  const progress = {
    ...(details?.current !== undefined ? { current: details.current } : {}),
    progressKnown: details !== undefined,
  };
  if (isWorkflowCancellation(err)) {
    if (ctx.stop !== undefined)
      return { results: details?.results ?? [], end: { kind: 'cancelled', reason: ctx.stop, progressKnown: true } };
    // Not a person's cancel: the host's worker stopped it (shutting down).
    return {
      results: details?.results ?? [],
      end: { kind: 'host-shutdown', reason: `host ${ctx.hostId} shutting down`, ...progress },
    };
  }
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (cause instanceof TimeoutFailure && cause.timeoutType === TimeoutType.SCHEDULE_TO_START) {
    return {
      results: [],
      end: {
        kind: 'not-started',
        reason: `host ${ctx.hostId} did not pick up batch ${ctx.batchId} within ${seconds(ctx.pickupTimeoutMs)}`,
        progressKnown: true,
      },
    };
  }
  const r = resultOfFailure(err, ctx);
  const kind =
    r.kind === 'aborted' && r.cause === AbortCause.HostLost
      ? 'host-lost'
      : r.kind === 'aborted' && r.cause === AbortCause.RunTimeout
        ? 'timeout'
        : 'crashed';
  return {
    results: details?.results ?? [],
    // Given up by Temporal without the host's word: its results may still come, late.
    end: {
      kind,
      reason: 'reason' in r ? r.reason : 'batch failed',
      ...progress,
      fenced: cause instanceof TimeoutFailure,
    },
  };
}

/** Why a host's presence activity ended, for the host's offline reason. */
export function describePresenceFailure(err: unknown, presenceTimeoutMs: number, presencePickupMs: number): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) {
    if (cause.timeoutType === TimeoutType.HEARTBEAT)
      return `stopped heartbeating (no heartbeat for ${presenceTimeoutMs / 1000} s)`;
    if (cause.timeoutType === TimeoutType.SCHEDULE_TO_START)
      return `did not poll its task queue within ${presencePickupMs / 1000} s`;
  }
  return `presence check failed: ${cause instanceof Error ? cause.message : String(cause)}`;
}
