/**
 * @module The health-check submission the scheduler starts for a host that broke, came
 * back online or out of maintenance: the job configured for the first of its worker
 * classes that has one, in the scheduler's pool (so its recipe set asks that scheduler).
 */
import { DEFAULT_POOL } from './ids.js';
import type { Job, Submission } from './job.js';

export function healthCheckSubmission(healthChecks: Record<string, Job>, host: { id: string; workerClasses: readonly string[] }, pool: string): Submission | undefined {
  const workerClass = host.workerClasses.find((c) => healthChecks[c]);
  if (workerClass === undefined) return undefined;
  const job: Job = { ...healthChecks[workerClass]!, name: 'health-check', workerClass, startAfter: [], parallelWith: [] };
  if (pool === DEFAULT_POOL) delete job.pool;
  else job.pool = pool;
  return { name: `health check of ${host.id}`, jobs: [job] };
}
