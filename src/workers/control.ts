/**
 * @module `testbay control`: the control worker. It runs every workflow (submission,
 * recipe set, chain, scheduler) on the control task queue, with the control activities as
 * local activities, and makes sure the default pool's scheduler workflow is running with
 * this worker's configuration (and gives it to every other pool's scheduler that runs).
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { TestbayClient } from '../api/client.js';
import type { Config } from '../config.js';
import { CONTROL_TASK_QUEUE, DEFAULT_POOL, SCHEDULER_WORKFLOW_ID, schedulerWorkflowId } from '../domain/ids.js';
import { runningPools } from '../temporal/pools.js';
import type { Logger } from '../logger.js';
import { createControlActivities } from '../activities/control/index.js';
import { createDeliveryActivities } from '../activities/control/webhooks.js';
import type { schedulerWorkflow } from '../workflows/scheduler.js';
import { configureSignal } from '../workflows/scheduler-messages.js';
import { installSdkLogger } from './sdk-logger.js';
import { reportTaskFailures } from './task-failures.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface ControlWorkerOptions {
  connection: NativeConnection;
  /** a pre-built bundle (tests bundle once per run); otherwise the workflows are bundled at start */
  workflowBundle?: { code: string } | { codePath: string };
  controlToken: string;
}

export async function createControlWorker(config: Config, log: Logger, options: ControlWorkerOptions): Promise<Worker> {
  installSdkLogger(log);
  const api = new TestbayClient(config.api.url, options.controlToken, config.api.clientTimeouts);
  api.onFailover = (from, to, reason) =>
    log.warn('API server unreachable; going on with the next one', { from, to, reason });
  const worker = await Worker.create({
    connection: options.connection,
    namespace: config.temporal.namespace,
    taskQueue: CONTROL_TASK_QUEUE,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: {
      ...createControlActivities({ api }),
      ...createDeliveryActivities({ api, commitStatus: config.notify.commitStatus }),
    },
    // Bursts of submissions: workflow tasks are short, let several run at once.
    maxConcurrentWorkflowTaskExecutions: 40,
    // Every running submission, recipe set and chain stays cached: a backlog of a few
    // thousand submissions would otherwise be evicted and replayed task after task.
    maxCachedWorkflows: config.controlWorkflowCache,
  });
  // The hosts page shows failed workflow tasks (stuck workflows) from this report.
  // (Its timer does not keep the process alive; a report to an API that went away is dropped.)
  reportTaskFailures((report) => api.reportTaskFailures(report), `control@${os.hostname()}/${process.pid}`);
  return worker;
}

/**
 * Starts the default pool's scheduler if it is not running, and gives it this worker's
 * configuration; so too every other pool's running scheduler (their first host started
 * them with the host's own settings). A pool with no scheduler yet gets one when its
 * first host registers.
 */
export async function ensureScheduler(client: Client, config: Config): Promise<void> {
  await client.workflow.signalWithStart<typeof schedulerWorkflow, [Partial<Config['scheduler']>]>('schedulerWorkflow', {
    workflowId: SCHEDULER_WORKFLOW_ID,
    taskQueue: CONTROL_TASK_QUEUE,
    args: [{ config: config.scheduler }],
    signal: configureSignal,
    signalArgs: [config.scheduler],
  });
  for (const pool of await runningPools(client)) {
    if (pool === DEFAULT_POOL) continue;
    try {
      await client.workflow.getHandle(schedulerWorkflowId(pool)).signal(configureSignal, config.scheduler);
    } catch (err) {
      // It ended between the listing and the signal: its next host starts it again.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
}
