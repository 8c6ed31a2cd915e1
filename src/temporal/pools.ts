/**
 * @module The pools of a lab, as Temporal knows them: one running scheduler workflow per
 * pool. The default pool's scheduler is started by the control worker; another pool's by
 * the first host that registers in it.
 */
import type { Client } from '@temporalio/client';
import { DEFAULT_POOL, poolOfSchedulerId } from '../domain/ids.js';

const RUNNING_SCHEDULERS = 'WorkflowType = "schedulerWorkflow" AND ExecutionStatus = "Running"';

/** Every pool with a running scheduler, the default pool first (listed even when it does not run yet). */
export async function runningPools(client: Client): Promise<string[]> {
  const pools = new Set<string>([DEFAULT_POOL]);
  for await (const execution of client.workflow.list({ query: RUNNING_SCHEDULERS })) {
    const pool = poolOfSchedulerId(execution.workflowId);
    if (pool !== undefined) pools.add(pool);
  }
  return [DEFAULT_POOL, ...[...pools].filter((p) => p !== DEFAULT_POOL).sort()];
}
