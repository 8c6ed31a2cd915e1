/**
 * @module The daily cleanup of the result store, started by the Temporal Schedule
 * `testbay-retention`: one activity asks the API to delete what is past retention (logs
 * and artifacts of finished jobs, then whole records; never of a running or kept
 * submission), and the workflow logs and returns what went, so Temporal Web and the
 * control worker's log show it.
 */
import { log, proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.js';

const control = proxyActivities<ControlActivities>({
  // Deleting a year of a big lab's history takes a while; it goes in batches and may resume.
  startToCloseTimeout: '1 hour',
  retry: { initialInterval: '10 seconds', maximumInterval: '10 minutes', maximumAttempts: 10 },
});

export async function retentionWorkflow(): Promise<Awaited<ReturnType<ControlActivities['applyRetention']>>> {
  const report = await control.applyRetention();
  log.info('retention: deleted what was past its time', { ...report, deletedIds: report.deletedIds.slice(0, 20) });
  return report;
}
