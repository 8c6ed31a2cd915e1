/**
 * @module The scheduler: one long-lived entity workflow per pool of hosts (workflow id
 * `testbay-scheduler` for the default pool, `testbay-scheduler-<pool>` for others). It holds the hosts and
 * the queue of lease requests (domain/lab.ts does the deciding), grants leases by
 * signalling the requesting workflow (a recipe set or a batch run: lease-client.ts), and learns that a host went away from
 * Temporal itself: each online host runs a presence activity on its own task queue, and a
 * missed heartbeat or a pickup timeout marks it offline. Continue-as-new keeps its
 * history bounded; the lab state and the queue travel with it.
 *
 * Its parts: the message handlers (scheduler-handlers.ts), the presences
 * (scheduler-presence.ts), grants, denials and lease checks (scheduler-leases.ts), health
 * checks (scheduler-health-checks.ts); this module runs the allocation loop.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  sleep,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { DEFAULT_POOL } from '../domain/ids.js';
import { shouldContinueAsNew } from '../domain/lab-view.js';
import { allocate, dropUnusable, newLab, type LabState } from '../domain/lab.js';
import { setSchedulerHandlers } from './scheduler-handlers.js';
import { healthChecks } from './scheduler-health-checks.js';
import { leaseAnswers, leaseChecks } from './scheduler-leases.js';
import { DEFAULT_SCHEDULER_CONFIG, type SchedulerConfig } from './scheduler-messages.js';
import { presenceWatch } from './scheduler-presence.js';
import type { SchedulerRun } from './scheduler-run.js';
import { inBackground, Pending } from './signal.js';

/** Continue as new once past the bar even when signals came in meanwhile. */
const CONTINUE_UNDER_LOAD_PATCH = 'scheduler-continue-under-load';

export interface SchedulerInput {
  config?: Partial<SchedulerConfig>;
  /** carried over by continue-as-new */
  lab?: LabState;
  /** the pool whose hosts this scheduler holds; absent = `default` */
  pool?: string;
}

export async function schedulerWorkflow(input: SchedulerInput = {}): Promise<never> {
  const config: SchedulerConfig = { ...DEFAULT_SCHEDULER_CONFIG, ...input.config };
  const pool = input.pool ?? DEFAULT_POOL;
  const lab: LabState = input.lab ?? newLab(uuid4().slice(0, 8), config.brokenAfterAborts);
  lab.brokenAfterAborts = config.brokenAfterAborts;
  const run: SchedulerRun = { config, pool, lab, dirty: true, outbound: new Pending() };

  const { deny, grant } = leaseAnswers(run);
  const { watchPresence, forget } = presenceWatch(run);
  const { checkLeasesNowAndThen, intervalChanged } = leaseChecks(run);
  const { maybeCheck, checkPeriodically } = healthChecks(run);
  setSchedulerHandlers(run, { watchPresence, forget, maybeCheck, deny, leaseCheckIntervalChanged: intervalChanged });

  // After continue-as-new, hosts that were online are watched again by this run. A live
  // host notices within a heartbeat that its presence of the last run ended and registers
  // again (a fresh instance): wait for that, and watch what did not come back as it was,
  // so a host that died meanwhile still goes offline — rather than start a presence per
  // host now only to end it when the host registers.
  const continued = input.lab !== undefined;
  inBackground(
    (continued ? sleep(run.config.presenceTimeoutMs) : Promise.resolve()).then(() => {
      for (const host of Object.values(lab.hosts)) watchPresence(host);
    }),
    'watching the hosts again',
  );
  inBackground(checkLeasesNowAndThen(), 'the lease checks');

  const timeToContinue = () =>
    shouldContinueAsNew(workflowInfo(), run.config.maxHistoryEvents, Object.keys(lab.hosts).length);
  for (;;) {
    await condition(() => run.dirty || timeToContinue());
    if (run.dirty) {
      run.dirty = false;
      checkPeriodically();
      for (const g of allocate(lab, Date.now())) grant(g);
      for (const { request, reason } of dropUnusable(lab)) deny(request.requester, request.requestId, reason);
    }
    if (timeToContinue() && !run.dirty) {
      await condition(() => allHandlersFinished() && run.outbound.size === 0);
      // Under steady load a signal always arrives while the outbound ones settle: waiting
      // for a quiet moment never ended, and the history grew towards Temporal's hard limit
      // (bench/scale). What the handlers changed meanwhile is in `lab`, and the new run
      // allocates first.
      if (!run.dirty || patched(CONTINUE_UNDER_LOAD_PATCH))
        await continueAsNew<typeof schedulerWorkflow>({
          config: run.config,
          lab,
          ...(input.pool !== undefined ? { pool: input.pool } : {}),
        });
    }
  }
}
