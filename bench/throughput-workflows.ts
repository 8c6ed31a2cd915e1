/**
 * The bare-Temporal baselines of bench/throughput: a workflow that runs one activity and
 * returns what it returned. Bundled on its own (bundleWorkflowCode), so nothing of
 * Testbay's workflows is in it.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { BareActivities } from './throughput-worker.js';

const { touch, runRunner } = proxyActivities<BareActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 1 },
});

/** One trivial activity: the engine's own cost of a workflow with one activity. */
export async function bareWorkflow(): Promise<number> {
  return touch();
}

/** One activity that runs the bench's trivial runner process, as a host would. */
export async function spawnWorkflow(argv: string[]): Promise<number> {
  return runRunner(argv);
}
