/**
 * @module healthChecks: the scheduler starts the worker class's health-check job on a host
 * (`maybeCheck`: one that broke, came back online or out of maintenance) as a submission of
 * its own that outlives the scheduler's run, and on every idle host that is due its periodic
 * check while jobs wait (`checkPeriodically`; domain/health-check.ts decides).
 */
import { log, ParentClosePolicy, patched, startChild, uuid4 } from '@temporalio/workflow';
import { healthCheckSubmission, periodicCheckOf } from '../domain/health-check.js';
import { CONTROL_TASK_QUEUE, submissionWorkflowId } from '../domain/ids.js';
import { startCheck, type HostRecord } from '../domain/lab.js';
import { buildPlan } from '../domain/plan.js';
import type { SchedulerRun } from './scheduler-run.js';

/** Schedulers before periodic health checks never started one on a healthy host. */
const PERIODIC_CHECKS_PATCH = 'scheduler-periodic-checks';

export function healthChecks(run: SchedulerRun) {
  const { lab, pool, outbound } = run;

  /** Starts the worker class's health-check job on the host, if one is configured. */
  const maybeCheck = (host: HostRecord, why: string) => {
    if (host.check || !host.online || host.broken?.source === 'setup') return;
    const submission = healthCheckSubmission(run.config.healthChecks, host, pool);
    if (submission === undefined) return;
    const submissionId = `hc${uuid4().replace(/-/g, '').slice(0, 14)}`;
    startCheck(lab, host.id, why, submissionId, Date.now());
    log.info('starting health check', { hostId: host.id, submissionId, why });
    outbound.add(
      startChild('submissionWorkflow', {
        workflowId: submissionWorkflowId(submissionId),
        taskQueue: CONTROL_TASK_QUEUE,
        // The check outlives this run of the scheduler (continue-as-new).
        parentClosePolicy: ParentClosePolicy.ABANDON,
        args: [
          {
            submissionId,
            plan: buildPlan(submission),
            config: run.config.runConfig,
            createdAt: new Date().toISOString(),
            healthCheckOf: host.id,
            register: { submission },
          },
        ],
      }).then(
        () => undefined,
        (err: unknown) => {
          log.error('could not start a health check', { hostId: host.id, error: String(err) });
          host.broken = { reason: `health check could not start: ${String(err)}`, source: 'check', at: Date.now() };
          delete host.check;
        },
      ),
    );
  };

  /** A host due its periodic check runs it before its next job (startCheck keeps it from being leased). */
  const checkPeriodically = () => {
    const { config } = run;
    if (
      Object.keys(config.healthCheckEvery ?? {}).length > 0 &&
      lab.queue.length > 0 &&
      patched(PERIODIC_CHECKS_PATCH)
    ) {
      for (const host of Object.values(lab.hosts)) {
        const why = periodicCheckOf(host, config.healthChecks, config.healthCheckEvery, Date.now());
        if (why !== undefined) maybeCheck(host, why);
      }
    }
  };

  return { maybeCheck, checkPeriodically };
}
