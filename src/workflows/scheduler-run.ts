/**
 * @module The state one run of the scheduler (`schedulerWorkflow`) shares between its parts:
 * the lab and its pool, the config (a configure signal replaces it), whether the lab changed
 * since the last allocation, and the signals and child starts on their way.
 */
import type { LabState } from '../domain/lab.js';
import type { SchedulerConfig } from './scheduler-messages.js';
import type { Pending } from './signal.js';

export interface SchedulerRun {
  /** replaced by a configure signal: read it when it is needed, not once */
  config: SchedulerConfig;
  readonly pool: string;
  readonly lab: LabState;
  /** the lab changed: the main loop allocates again */
  dirty: boolean;
  /** signals on their way: settled before continue-as-new */
  readonly outbound: Pending;
}
