/**
 * @module The health-check submission the scheduler starts for a host that broke, came
 * back online or out of maintenance: the job configured for the first of its worker
 * classes that has one, in the scheduler's pool (so its recipe set asks that scheduler);
 * and when an idle host is due its periodic check (`periodicCheckOf`, `periodicCheckDue`).
 */
import { DEFAULT_POOL } from './ids.js';
import type { Job, Submission } from './job.js';
import type { HostRecord } from './lab.js';
import { formatDuration } from './duration.js';

export function healthCheckSubmission(
  healthChecks: Record<string, Job>,
  host: { id: string; workerClasses: readonly string[] },
  pool: string,
): Submission | undefined {
  const workerClass = host.workerClasses.find((c) => healthChecks[c]);
  if (workerClass === undefined) return undefined;
  const job: Job = {
    ...healthChecks[workerClass]!,
    name: 'health-check',
    workerClass,
    startAfter: [],
    parallelWith: [],
  };
  if (pool === DEFAULT_POOL) delete job.pool;
  else job.pool = pool;
  return { name: `health check of ${host.id}`, jobs: [job] };
}

/** When a host is due its periodic health check (LAVA runs one every 24 h): by time, by jobs, or both. */
export interface CheckEvery {
  everyMs?: number;
  everyJobs?: number;
}

/**
 * Why the host is due a periodic check now, or undefined: `everyMs` since its last check (or
 * since it registered), or `everyJobs` jobs since its last check.
 */
export function periodicCheckDue(
  host: { lastCheckAt?: number; registeredAt: number; jobsSinceCheck?: number },
  every: CheckEvery | undefined,
  now: number,
): string | undefined {
  if (!every) return undefined;
  const since = host.lastCheckAt ?? host.registeredAt;
  if (every.everyMs !== undefined && now - since >= every.everyMs)
    return `periodic: ${formatDuration(now - since)} since the last check (everyMs)`;
  if (every.everyJobs !== undefined && (host.jobsSinceCheck ?? 0) >= every.everyJobs)
    return `periodic: ${host.jobsSinceCheck ?? 0} jobs since the last check (everyJobs)`;
  return undefined;
}

/**
 * Why the host is due its worker class's periodic check now, or undefined: only an idle,
 * healthy host (online, not leased, checked, broken or in maintenance) whose worker class has
 * a health check is checked on its own.
 */
export function periodicCheckOf(
  host: Pick<
    HostRecord,
    | 'lease'
    | 'check'
    | 'broken'
    | 'maintenance'
    | 'online'
    | 'workerClasses'
    | 'lastCheckAt'
    | 'registeredAt'
    | 'jobsSinceCheck'
  >,
  healthChecks: Record<string, Job>,
  every: Record<string, CheckEvery> | undefined,
  now: number,
): string | undefined {
  if (host.lease || host.check || host.broken || host.maintenance || !host.online) return undefined;
  const workerClass = host.workerClasses.find((c) => healthChecks[c]);
  return workerClass !== undefined ? periodicCheckDue(host, every?.[workerClass], now) : undefined;
}
