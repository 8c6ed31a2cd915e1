/**
 * @module Reservations as the API handles them: find the reservation of a job or a host in
 * the lab's view, extend or release it through the workflow that holds it (only its holder
 * or an operator may), lend an idle host (a loan workflow), change a queued job's priority,
 * and check a job's `host:` against the lab at submit. The rules are domain/reservation.ts's;
 * this module turns requests into gateway calls and refusals into HTTP errors.
 */
import type { Principal } from './auth.js';
import { HttpError } from './http-errors.js';
import { liveSubmissionView } from './live-view.js';
import type { RouteDeps } from './routes/deps.js';
import { DEFAULT_POOL, loanWorkflowId, submissionOfJob } from '../domain/ids.js';
import type { Submission } from '../domain/job.js';
import { whyHostCannotServe } from '../domain/lab.js';
import { formatDuration, RESERVE_DEFAULTS, type Reservation } from '../domain/reservation.js';
import type { HostView } from '../workflows/scheduler-messages.js';

export type ReservationTarget = { jobId: string } | { hostId: string };

const describe = (t: ReservationTarget) => ('jobId' in t ? `job ${t.jobId}` : `host ${t.hostId}`);

/** The host that holds the target's reservation, and the reservation; undefined when none does. */
export async function findReservation(
  deps: Pick<RouteDeps, 'gateway'>,
  target: ReservationTarget,
): Promise<{ host: HostView; reservation: Reservation } | undefined> {
  const { hosts } = await deps.gateway.lab({ fresh: true });
  for (const host of hosts) {
    const reservation = host.lease?.reservation;
    if (!reservation) continue;
    if ('jobId' in target ? reservation.jobId === target.jobId : host.id === target.hostId)
      return { host, reservation };
  }
  return undefined;
}

/** Why the target holds no reservation, for the 409 (or 404) a person can act on. */
async function noReservation(deps: RouteDeps, target: ReservationTarget): Promise<never> {
  if ('hostId' in target) {
    const host = (await deps.gateway.lab({ fresh: true })).hosts.find((h) => h.id === target.hostId);
    if (!host) throw new HttpError(404, `unknown host ${target.hostId}`);
    throw new HttpError(409, `host ${target.hostId} is not reserved (it is ${host.state})`);
  }
  const view = await liveSubmissionView(deps, submissionOfJob(target.jobId));
  const job = view.jobs.find((j) => j.id === target.jobId);
  if (!job) throw new HttpError(404, `no job ${target.jobId}`);
  if (job.state !== 'done')
    throw new HttpError(
      409,
      `job ${target.jobId} is ${job.state}: a reservation begins only once it ends (and its result asks for one)`,
    );
  throw new HttpError(
    409,
    `job ${target.jobId} has ended (${job.result?.kind ?? 'done'}) and its host is not reserved: its reservation ended, or its result did not ask for one`,
  );
}

/** Only whoever holds a reservation, or an operator, may change it. */
function mayChange(principal: Principal, reservation: Reservation, target: ReservationTarget): void {
  if (principal.role === 'operate' || principal.name === reservation.by) return;
  throw new HttpError(
    403,
    `${describe(target)} is reserved by ${reservation.by}: only they or an operate token may change its reservation`,
  );
}

/** Moves the end of a reservation on by `byMs`, within its cap. */
export async function extendReservation(
  deps: RouteDeps,
  target: ReservationTarget,
  byMs: number,
  principal: Principal,
): Promise<Reservation> {
  const found = (await findReservation(deps, target)) ?? (await noReservation(deps, target));
  mayChange(principal, found.reservation, target);
  return deps.gateway.changeReservation(found.reservation.holder, { action: 'extend', byMs, by: principal.name });
}

/** Ends a reservation now: the host runs its end command, prunes the job's dir and goes back to the pool. */
export async function releaseReservation(
  deps: RouteDeps,
  target: ReservationTarget,
  principal: Principal,
): Promise<Reservation> {
  const found = (await findReservation(deps, target)) ?? (await noReservation(deps, target));
  mayChange(principal, found.reservation, target);
  return deps.gateway.changeReservation(found.reservation.holder, { action: 'release', by: principal.name });
}

/**
 * Lends a host to the caller for `forMs`. An operator may borrow any host that holds no
 * lease (a broken one, to repair it) for up to TESTBAY_MAX_RESERVE_MS; a submitter only an
 * idle one, for up to TESTBAY_MAX_LOAN_MS.
 */
export async function lendHost(
  deps: RouteDeps,
  hostId: string,
  forMs: number,
  reason: string | undefined,
  principal: Principal,
): Promise<Reservation> {
  const host = (await deps.gateway.lab({ fresh: true })).hosts.find((h) => h.id === hostId);
  if (!host) throw new HttpError(404, `unknown host ${hostId}`);
  const operator = principal.role === 'operate';
  const capMs = operator
    ? (deps.runConfig.maxReserveMs ?? RESERVE_DEFAULTS.maxReserveMs)
    : (deps.runConfig.maxLoanMs ?? RESERVE_DEFAULTS.maxLoanMs);
  if (forMs > capMs) {
    throw new HttpError(400, 'invalid loan', [
      {
        path: ['forMs'],
        message: `${formatDuration(forMs)} is above the cap of ${formatDuration(capMs)} for a ${principal.role} token (${operator ? 'TESTBAY_MAX_RESERVE_MS' : 'TESTBAY_MAX_LOAN_MS'})`,
      },
    ]);
  }
  const free = operator ? host.online && !host.lease : host.state === 'idle';
  if (!free) {
    const detail = host.lease?.reservation
      ? ` by ${host.lease.reservation.by}`
      : host.lease
        ? ` to ${host.lease.label}`
        : host.broken
          ? ` (${host.broken.reason})`
          : '';
    throw new HttpError(
      409,
      `host ${hostId} is ${host.state}${detail}: ${operator ? 'only a host without a lease can be lent' : 'a submit token may borrow only an idle host'}`,
    );
  }
  const started = await deps.gateway.startLoan(loanWorkflowId(hostId, Date.now().toString(36)), {
    hostId,
    ...(host.pool !== DEFAULT_POOL ? { pool: host.pool } : {}),
    workerClass: host.workerClasses[0] ?? 'any',
    by: principal.name,
    ...(reason ? { reason } : {}),
    durationMs: forMs,
    capMs,
    waitMs: 15_000,
    config: deps.runConfig,
  });
  if ('refused' in started) throw new HttpError(409, `host ${hostId} was not lent: ${started.refused}`);
  return started.reservation;
}

/**
 * A queued job's new priority (lower runs first). Its submitter may lower it (a larger
 * number); raising it, or changing another's, needs the operate role.
 */
export async function changePriority(
  deps: RouteDeps,
  jobId: string,
  priority: number,
  principal: Principal,
): Promise<{ id: string; previous: number; priority: number }> {
  const submissionId = submissionOfJob(jobId);
  const view = await liveSubmissionView(deps, submissionId);
  const job = view.jobs.find((j) => j.id === jobId);
  if (!job) throw new HttpError(404, `no job ${jobId}`);
  const set = view.recipeSets.find((s) => s.number === job.setNumber);
  if (!set || set.state !== 'leasing')
    throw new HttpError(
      409,
      `job ${jobId} is not queued for a host (it is ${job.state}${job.result ? `, ${job.result.kind}` : ''}): only a queued job's priority can change`,
    );
  const entry = (await deps.gateway.lab({ fresh: true })).queue.find((q) => q.requestId === set.workflowId);
  if (!entry) throw new HttpError(409, `job ${jobId} is not queued for a host any more`);
  if (principal.role !== 'operate') {
    if (view.submittedBy !== principal.name)
      throw new HttpError(
        403,
        `job ${jobId} was submitted by ${view.submittedBy ?? 'someone else'}: only they (to lower it) or an operate token may change its priority`,
      );
    if (priority < entry.priority)
      throw new HttpError(
        403,
        `raising job ${jobId}'s priority (${entry.priority} → ${priority}; lower runs first) needs an operate token; its submitter may only lower it`,
      );
  }
  const changed = await deps.gateway.setPriority(
    entry.pool === DEFAULT_POOL ? undefined : entry.pool,
    set.workflowId,
    priority,
  );
  deps.log.info('priority changed', { jobId, ...changed, by: principal.name });
  return { id: jobId, ...changed };
}

/**
 * A job pinned to a host (`host: h3`) the lab does not have, or that cannot take it, is
 * refused at submit, with the path. When the lab cannot be read the scheduler still denies
 * such a job later, with the same words.
 */
export async function pinnedHostIssues(
  deps: Pick<RouteDeps, 'gateway' | 'log'>,
  submission: Submission,
): Promise<{ path: (string | number)[]; message: string }[]> {
  if (!submission.jobs.some((j) => j.host !== undefined)) return [];
  let hosts: HostView[];
  try {
    hosts = (await deps.gateway.lab({ fresh: true })).hosts;
  } catch (err) {
    deps.log.warn('could not check pinned hosts against the lab', { error: String(err) });
    return [];
  }
  return submission.jobs.flatMap((job, i) => {
    if (job.host === undefined) return [];
    const path = ['jobs', i, 'host'];
    const host = hosts.find((h) => h.id === job.host);
    if (!host)
      return [
        { path, message: `host ${job.host} is not in the lab (hosts: ${hosts.map((h) => h.id).join(', ') || 'none'})` },
      ];
    if (host.pool !== (job.pool ?? DEFAULT_POOL))
      return [
        { path, message: `host ${job.host} is in pool ${host.pool}, the job in pool ${job.pool ?? DEFAULT_POOL}` },
      ];
    const why = whyHostCannotServe(host, job);
    return why ? [{ path, message: why }] : [];
  });
}
