/**
 * @module The lab's Temporal Schedules, made sure of by every control worker at start
 * (and `testbay setup`): `testbay-reconcile` ends submissions whose workflow is gone;
 * `testbay-retention` runs the result store's cleanup daily (03:17 UTC). Creating one that
 * exists updates its interval instead, so two control workers starting at once agree.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config.js';
import { CONTROL_TASK_QUEUE, RETENTION_SCHEDULE_ID } from '../domain/ids.js';

export const RECONCILE_SCHEDULE_ID = 'testbay-reconcile';

interface LabSchedule {
  id: string;
  workflowType: string;
  everyMs: number;
  /** where in each interval it runs (from the epoch) */
  offsetMs?: number;
  note: string;
}

const DAY_MS = 86_400_000;

export function labSchedules(config: Config): LabSchedule[] {
  return [
    {
      id: RECONCILE_SCHEDULE_ID,
      workflowType: 'reconcileWorkflow',
      everyMs: config.reconcileEveryMs,
      note: 'ends submissions whose workflow is gone (terminated, timed out)',
    },
    {
      id: RETENTION_SCHEDULE_ID,
      workflowType: 'retentionWorkflow',
      everyMs: DAY_MS,
      offsetMs: (3 * 60 + 17) * 60_000,
      note: 'deletes result-store data past retention: logs and artifacts of finished jobs, then records; never running or kept submissions',
    },
  ];
}

export async function ensureSchedules(client: Client, config: Config): Promise<void> {
  for (const s of labSchedules(config)) {
    const spec = { intervals: [{ every: s.everyMs, ...(s.offsetMs ? { offset: s.offsetMs } : {}) }] };
    try {
      await client.schedule.create({
        scheduleId: s.id,
        spec,
        action: {
          type: 'startWorkflow',
          workflowType: s.workflowType,
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: s.id,
          args: [],
        },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: s.everyMs * 2 },
        memo: { note: s.note },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(s.id).update((previous) => ({ ...previous, spec }));
    }
  }
}
