/**
 * @module reconcileWorkflow: what the `testbay-reconcile` Temporal Schedule starts now and
 * then. It asks the API to end every submission whose workflow is gone while the result
 * store still says it runs (see src/api/reconcile.ts), so the listing shows it ended.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';

const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '1 second' },
});

export async function reconcileWorkflow(): Promise<{ ended: string[] }> {
  return { ended: await control.reconcileSubmissions() };
}
