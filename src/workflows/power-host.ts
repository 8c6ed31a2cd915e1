/**
 * @module powerHostWorkflow: `testbay power HOST on|off|cycle`. One activity on the host's
 * own task queue runs its powerCommand; the API waits for the answer. A host that is not
 * there never picks the task up, and the workflow says so instead of waiting.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import { ErrorType } from '../domain/errors.js';
import type { HostActivities } from '../activities/host/index.js';
import type { HookAnswer, PowerAction } from '../activities/host/host-commands.js';
import { hostTaskQueue } from '../domain/ids.js';

export interface PowerHostInput {
  hostId: string;
  action: PowerAction;
  by: string;
  /** the host must pick the task up within this (the lab's hostPickupTimeoutMs) */
  pickupTimeoutMs: number;
  heartbeatTimeoutMs: number;
}

export async function powerHostWorkflow(input: PowerHostInput): Promise<HookAnswer> {
  const { powerHost } = proxyActivities<HostActivities>({
    taskQueue: hostTaskQueue(input.hostId),
    // The host must be running to run its command: no pickup, no power action.
    scheduleToStartTimeout: input.pickupTimeoutMs,
    heartbeatTimeout: input.heartbeatTimeoutMs,
    // The host stops the command at TESTBAY_HOOK_TIMEOUT_MS; this is a backstop.
    startToCloseTimeout: '1 day',
    // A power command is not repeated behind the operator's back.
    retry: { maximumAttempts: 1 },
  });
  try {
    return await powerHost({ action: input.action, by: input.by });
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
      throw ApplicationFailure.create({
        type: ErrorType.HostUnreachable,
        message: `host ${input.hostId} did not run its powerCommand (${err.cause.timeoutType === 'SCHEDULE_TO_START' ? 'it is not running' : 'it stopped answering'})`,
        nonRetryable: true,
      });
    }
    throw err;
  }
}
