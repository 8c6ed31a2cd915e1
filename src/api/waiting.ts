/**
 * @module Why a job that is leased waits: the jobs of a chain run back to back on one
 * host, so a job whose chain holds its host (state `scheduled`) waits for the job before
 * it in the chain's order. The submission workflow explains jobs waiting for parents or
 * a host; this adds the reason for jobs waiting their turn on a host. Pure.
 */
import type { Plan } from '../domain/plan.js';
import type { JobView } from '../domain/views.js';

const ON_HOST = new Set<JobView['state']>(['provisioning', 'running', 'uploading']);

/** The reason a scheduled job waits, from its chain's order; undefined for other jobs. */
export function chainWaitingReason(job: JobView, jobs: readonly JobView[], plan: Plan): string | undefined {
  if (job.state !== 'scheduled' || job.result) return undefined;
  const host = job.hostId ? ` on host ${job.hostId}` : '';
  const planJob = plan.jobs.find((j) => j.name === job.name);
  const order = planJob ? (plan.recipes[planJob.recipe]?.jobs ?? []) : [];
  const before = order.slice(0, Math.max(0, order.indexOf(job.name)));
  const attempt = new Map(jobs.filter((j) => j.setNumber === job.setNumber).map((j) => [j.name, j]));
  const ahead = before.flatMap((name) => {
    const j = attempt.get(name);
    return j && !j.result ? [j] : [];
  });
  const blocking = ahead.find((j) => ON_HOST.has(j.state)) ?? ahead[0];
  if (blocking) return `waiting for \`${blocking.name}\` to finish${host}`;
  return `starting${host}`;
}

/** Gives every scheduled job its chain waiting reason (other jobs keep theirs). */
export function withChainReasons(jobs: JobView[], plan: Plan): JobView[] {
  return jobs.map((j) => {
    const reason = chainWaitingReason(j, jobs, plan);
    return reason ? { ...j, waitingReason: reason } : j;
  });
}
