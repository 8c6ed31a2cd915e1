/**
 * @module chainActivities: the activities a chain calls, with their options: the job records
 * (local activities on the control worker) and the host's own task queue (provision, run,
 * upload), each with its phase's deadline; `recoverOnHost` for a chain and a batch run alike.
 */
import { ActivityCancellationType, log, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';
import type { HostActivities } from '../activities/host/index.js';
import { ErrorType } from '../domain/errors.js';
import { hostTaskQueue } from '../domain/ids.js';
import type { RunConfig } from '../domain/job-run.js';
import type { Recovery } from '../domain/lab.js';

// Job records are written by local activities (the control worker runs this workflow and
// calls the API itself): one marker event each instead of an activity's three events and a
// workflow task, which is most of a short job's cost in Temporal. A local activity holds
// back the commands of its workflow task while it runs (a few ms of HTTP); the runs that
// matter for the gap between jobs are already queued on the host by then.
export const control = proxyLocalActivities<ControlActivities>({
  startToCloseTimeout: '30 seconds',
  // Past this, a long outage of the result store goes on as a timer, not in one task.
  localRetryThreshold: '10 seconds',
  // The result store may be restarting: keep trying, results must not be lost.
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

/** The host's activities: `onHostQueue(deadline)` for provision and run, `upload` for results. */
export function hostActivities(hostId: string, config: RunConfig) {
  /** Host activities with the phase's own deadline. */
  const onHostQueue = (startToCloseTimeoutMs: number) =>
    proxyActivities<HostActivities>({
      taskQueue: hostTaskQueue(hostId),
      // A dead host's queue never starts the task: give up and try another host.
      scheduleToStartTimeout: config.hostPickupTimeoutMs,
      heartbeatTimeout: config.heartbeatTimeoutMs,
      startToCloseTimeout: startToCloseTimeoutMs,
      // Host-level failures go back to this workflow, which re-schedules on another host.
      retry: { maximumAttempts: 1 },
      // Report a stopped job only once its runner's process group is really gone.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    });

  const upload = proxyActivities<HostActivities>({
    taskQueue: hostTaskQueue(hostId),
    scheduleToStartTimeout: config.hostPickupTimeoutMs,
    heartbeatTimeout: config.heartbeatTimeoutMs,
    startToCloseTimeout: config.uploadTimeoutMs,
    // A network blip while uploading is retried here, on the same host.
    retry: { maximumAttempts: 4, initialInterval: '1 second', nonRetryableErrorTypes: [ErrorType.LeaseRevoked] },
  }).uploadResults;

  return { onHostQueue, upload };
}

/** A backstop: the host stops its recoverCommand at TESTBAY_HOOK_TIMEOUT_MS, and heartbeats meanwhile. */
const RECOVER_DEADLINE_MS = 24 * 3_600_000;

/**
 * After an infrastructure abort, runs the host's recoverCommand (if it has one) while the
 * caller still holds the host's lease, so it takes nothing else first. What it did goes to
 * the scheduler with the release: a failure breaks the host. Undefined when the host has no
 * recoverCommand, or died or timed out meanwhile (its presence tells the scheduler that).
 */
export async function recoverOnHost(
  hostId: string,
  config: RunConfig,
  aborted: { jobId: string; cause: string; reason: string },
): Promise<Recovery | undefined> {
  try {
    const answer = await hostActivities(hostId, config).onHostQueue(RECOVER_DEADLINE_MS).recoverHost(aborted);
    return answer.ran ? { ok: answer.ok, summary: answer.summary } : undefined;
  } catch (err) {
    log.warn('recoverHost failed', { hostId, error: String(err) });
    return undefined;
  }
}
