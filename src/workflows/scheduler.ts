/**
 * @module The scheduler: one long-lived entity workflow per pool of hosts (workflow id
 * `testbay-scheduler` for the default pool, `testbay-scheduler-<pool>` for others). It holds the hosts and
 * the queue of lease requests (domain/lab.ts does the deciding), grants leases by
 * signalling the requesting workflow (a recipe set or a batch run: lease-client.ts), and learns that a host went away from
 * Temporal itself: each online host runs a presence activity on its own task queue, and a
 * missed heartbeat or a pickup timeout marks it offline. Continue-as-new keeps its
 * history bounded; the lab state and the queue travel with it.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  startChild,
  setHandler,
  sleep,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { HostActivities } from '../activities/host/index.js';
import { ErrorType } from '../domain/errors.js';
import { healthCheckSubmission, periodicCheckDue } from '../domain/health-check.js';
import { CONTROL_TASK_QUEUE, DEFAULT_POOL, hostTaskQueue, submissionWorkflowId } from '../domain/ids.js';
import { hostView, hostViews, queueView, shouldContinueAsNew } from '../domain/lab-view.js';
import { buildPlan } from '../domain/plan.js';
import {
  allocate,
  clearBroken,
  dropImpossible,
  dropUnusable,
  enqueue,
  markBroken,
  markOffline,
  markReserved,
  newLab,
  registerHost,
  release,
  removeHost,
  setMaintenance,
  setPriority,
  startCheck,
  withdrawRequest,
  type Grant,
  type HostRecord,
  type LabState,
} from '../domain/lab.js';
import {
  cancelLeaseRequestSignal,
  configureSignal,
  DEFAULT_SCHEDULER_CONFIG,
  hostActionUpdate,
  labQuery,
  leaseCheckSignal,
  leaseDeniedSignal,
  leaseGrantedSignal,
  registerHostSignal,
  releaseLeaseSignal,
  requestLeaseSignal,
  reservationSignal,
  setPriorityUpdate,
  type SchedulerConfig,
} from './scheduler-messages.js';
import { describePresenceFailure } from './failures.js';
import { inBackground, Pending, signalIfRunning } from './signal.js';

/** Continue as new once past the bar even when signals came in meanwhile. */
const CONTINUE_UNDER_LOAD_PATCH = 'scheduler-continue-under-load';
/** Schedulers before periodic health checks never started one on a healthy host. */
const PERIODIC_CHECKS_PATCH = 'scheduler-periodic-checks';

export interface SchedulerInput {
  config?: Partial<SchedulerConfig>;
  /** carried over by continue-as-new */
  lab?: LabState;
  /** the pool whose hosts this scheduler holds; absent = `default` */
  pool?: string;
}

export async function schedulerWorkflow(input: SchedulerInput = {}): Promise<never> {
  let config: SchedulerConfig = { ...DEFAULT_SCHEDULER_CONFIG, ...input.config };
  const pool = input.pool ?? DEFAULT_POOL;
  const lab: LabState = input.lab ?? newLab(uuid4().slice(0, 8), config.brokenAfterAborts);
  lab.brokenAfterAborts = config.brokenAfterAborts;
  let dirty = true;
  /** signals on their way: settled before continue-as-new */
  const outbound = new Pending();
  /** hostId → instanceId whose presence activity runs in this run */
  const watched = new Map<string, string>();
  /** the presence activity of each watched host, to cancel when a newer instance registers */
  const presences = new Map<string, CancellationScope>();

  const deny = (requester: string, requestId: string, reason: string) =>
    outbound.add(signalIfRunning(getExternalWorkflowHandle(requester), leaseDeniedSignal, { requestId, reason: pool === DEFAULT_POOL ? reason : `${reason} (pool ${pool})` }));

  const grant = (g: Grant) =>
    outbound.add(
      signalIfRunning(getExternalWorkflowHandle(g.requester), leaseGrantedSignal, { requestId: g.requestId, leases: g.leases }).then((delivered) => {
        if (delivered) return;
        // The requester is gone (cancelled or terminated): nobody will release these leases.
        log.warn('requester gone; releasing its leases', { requester: g.requester });
        for (const l of g.leases) release(lab, l.hostId, l.token, [], Date.now());
        dirty = true;
      }),
    );

  const watchPresence = (host: HostRecord) => {
    const { id, instanceId } = host;
    if (!host.online || watched.get(id) === instanceId) return;
    // A newer instance of the host registered: the older one's presence ends here, or it
    // would run on beside the new one for as long as the host lives.
    presences.get(id)?.cancel();
    watched.set(id, instanceId);
    const scope = new CancellationScope();
    presences.set(id, scope);
    const { holdPresence } = proxyActivities<HostActivities>({
      taskQueue: hostTaskQueue(id),
      // Temporal does not watch worker processes: a host that dies is noticed only when
      // its presence activity misses a heartbeat or is never picked up.
      heartbeatTimeout: config.presenceTimeoutMs,
      scheduleToStartTimeout: config.presencePickupMs,
      startToCloseTimeout: '3650 days',
      retry: { maximumAttempts: 1 },
    });
    inBackground(
      scope.run(() => holdPresence({ hostId: id, instanceId })).then(
        () => lost(id, instanceId, 'host process shut down'),
        (err: unknown) => lost(id, instanceId, describePresenceFailure(err, config.presenceTimeoutMs, config.presencePickupMs)),
      ),
      `presence of ${id}`,
    );
  };

  /**
   * A lease normally ends with a release from its chain; a chain or recipe set terminated
   * in Temporal Web never sends one. So the holder of every lease held for a while is
   * signalled: the signal fails to deliver when the holder has ended, and the lease comes
   * back. One signal per lease and interval, no state beyond the lease itself.
   */
  let leaseCheckChanged = false;
  const checkLeasesNowAndThen = async () => {
    for (;;) {
      leaseCheckChanged = false;
      if (await condition(() => leaseCheckChanged, config.leaseCheckMs)) continue;
      const now = Date.now();
      for (const host of Object.values(lab.hosts)) {
        const lease = host.lease;
        if (!lease || now - lease.since < config.leaseCheckMs) continue;
        outbound.add(
          signalIfRunning(getExternalWorkflowHandle(lease.requester), leaseCheckSignal, { requestId: lease.requestId, hostId: host.id }).then((delivered) => {
            if (delivered || !release(lab, host.id, lease.token, [], Date.now()).released) return;
            log.warn('lease holder gone; took its lease back', { hostId: host.id, requester: lease.requester });
            dirty = true;
          }),
        );
      }
    }
  };

  const lost = (hostId: string, instanceId: string, reason: string) => {
    if (watched.get(hostId) === instanceId) watched.delete(hostId);
    if (markOffline(lab, hostId, instanceId, reason, Date.now())) {
      log.info('host offline', { hostId, reason });
      dirty = true;
    }
  };

  /** Starts the worker class's health-check job on the host, if one is configured. */
  const maybeCheck = (host: HostRecord, why: string) => {
    if (host.check || !host.online || host.broken?.source === 'setup') return;
    const submission = healthCheckSubmission(config.healthChecks, host, pool);
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
        args: [{ submissionId, plan: buildPlan(submission), config: config.runConfig, createdAt: new Date().toISOString(), healthCheckOf: host.id, register: { submission } }],
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

  setHandler(registerHostSignal, (reg) => {
    const returning = lab.hosts[reg.hostId]?.online === false;
    const host = registerHost(lab, reg, Date.now());
    watchPresence(host);
    if (returning) maybeCheck(host, 'back online');
    dirty = true;
  });
  setHandler(requestLeaseSignal, (req) => {
    const queued = enqueue(lab, req, Date.now());
    if (!queued.queued) deny(req.requester, req.requestId, queued.reason);
    dirty = true;
  });
  setHandler(cancelLeaseRequestSignal, ({ requestId }) => {
    const released = withdrawRequest(lab, requestId, Date.now());
    if (released.length > 0) log.info('withdrawn request gave back the leases it was granted meanwhile', { requestId, hosts: released });
    dirty = true;
  });
  setHandler(releaseLeaseSignal, ({ hostId, token, outcomes, recovery }) => {
    const wasCheck = lab.hosts[hostId]?.lease?.healthCheck === true;
    const r = release(lab, hostId, token, outcomes, Date.now(), recovery);
    if (r.broken) {
      log.warn('host broken', { hostId, reason: r.broken });
      if (!wasCheck) maybeCheck(lab.hosts[hostId]!, `broken: ${r.broken}`);
    }
    for (const other of r.brokenElsewhere ?? []) {
      log.warn('host broken', { hostId: other.hostId, reason: other.reason });
      maybeCheck(lab.hosts[other.hostId]!, `broken: ${other.reason}`);
    }
    dirty = true;
  });
  setHandler(configureSignal, (c) => {
    if (c.leaseCheckMs !== undefined && c.leaseCheckMs !== config.leaseCheckMs) leaseCheckChanged = true;
    config = { ...config, ...c };
    lab.brokenAfterAborts = config.brokenAfterAborts;
    dirty = true;
  });
  setHandler(
    hostActionUpdate,
    ({ hostId, action, reason }) => {
      const now = Date.now();
      let host: HostRecord | undefined;
      switch (action) {
        case 'maintenance-on':
        case 'maintenance-off':
          host = setMaintenance(lab, hostId, action === 'maintenance-on');
          if (host && action === 'maintenance-off') maybeCheck(host, 'back from maintenance');
          break;
        case 'clear-broken':
          host = clearBroken(lab, hostId);
          break;
        case 'mark-broken':
          host = markBroken(lab, hostId, reason ?? 'marked broken by an operator', now);
          break;
        case 'remove':
          removeHost(lab, hostId);
          watched.delete(hostId);
          presences.get(hostId)?.cancel();
          presences.delete(hostId);
          for (const { request, reason: why } of dropImpossible(lab)) deny(request.requester, request.requestId, why);
          break;
      }
      dirty = true;
      return host ? hostView(lab, host, pool) : null;
    },
    {
      validator: ({ hostId, action }) => {
        // Typed, so the API answers 404 or 409 by the type, not by the message.
        if (!lab.hosts[hostId]) throw ApplicationFailure.create({ type: ErrorType.UnknownHost, message: `unknown host ${hostId}`, nonRetryable: true });
        if (action === 'remove' && lab.hosts[hostId]?.lease) {
          throw ApplicationFailure.create({ type: ErrorType.HostBusy, message: `host ${hostId} holds a lease; put it into maintenance first and remove it when idle`, nonRetryable: true });
        }
      },
    },
  );
  setHandler(reservationSignal, ({ hostId, token, reservation }) => {
    if (markReserved(lab, hostId, token, reservation)) log.info(reservation ? 'host reserved' : 'reservation ended', { hostId, ...(reservation ? { by: reservation.by, until: reservation.until } : {}) });
    dirty = true;
  });
  setHandler(
    setPriorityUpdate,
    ({ requestId, priority }) => {
      const changed = setPriority(lab, requestId, priority)!;
      dirty = true;
      return { previous: changed.previous, priority };
    },
    {
      validator: ({ requestId }) => {
        if (!lab.queue.some((r) => r.requestId === requestId)) {
          throw ApplicationFailure.create({ type: ErrorType.NotQueued, message: `${requestId} is not queued: its hosts were leased already, or it ended`, nonRetryable: true });
        }
      },
    },
  );
  setHandler(labQuery, () => {
    const { runId } = workflowInfo();
    return { hosts: hostViews(lab, pool), queue: queueView(lab, pool), runId, pools: [{ pool, runId }] };
  });

  // After continue-as-new, hosts that were online are watched again by this run. A live
  // host notices within a heartbeat that its presence of the last run ended and registers
  // again (a fresh instance): wait for that, and watch what did not come back as it was,
  // so a host that died meanwhile still goes offline — rather than start a presence per
  // host now only to end it when the host registers.
  const continued = input.lab !== undefined;
  inBackground(
    (continued ? sleep(config.presenceTimeoutMs) : Promise.resolve()).then(() => {
      for (const host of Object.values(lab.hosts)) watchPresence(host);
    }),
    'watching the hosts again',
  );
  inBackground(checkLeasesNowAndThen(), 'the lease checks');

  const timeToContinue = () => shouldContinueAsNew(workflowInfo(), config.maxHistoryEvents, Object.keys(lab.hosts).length);
  for (;;) {
    await condition(() => dirty || timeToContinue());
    if (dirty) {
      dirty = false;
      // A host due its periodic check runs it before its next job (startCheck keeps it from being leased).
      if (Object.keys(config.healthCheckEvery ?? {}).length > 0 && lab.queue.length > 0 && patched(PERIODIC_CHECKS_PATCH)) {
        for (const host of Object.values(lab.hosts)) {
          if (host.lease || host.check || host.broken || host.maintenance || !host.online) continue;
          const workerClass = host.workerClasses.find((c) => config.healthChecks[c]);
          const why = workerClass !== undefined ? periodicCheckDue(host, config.healthCheckEvery?.[workerClass], Date.now()) : undefined;
          if (why !== undefined) maybeCheck(host, why);
        }
      }
      for (const g of allocate(lab, Date.now())) grant(g);
      for (const { request, reason } of dropUnusable(lab)) deny(request.requester, request.requestId, reason);
    }
    if (timeToContinue() && !dirty) {
      await condition(() => allHandlersFinished() && outbound.size === 0);
      // Under steady load a signal always arrives while the outbound ones settle: waiting
      // for a quiet moment never ended, and the history grew towards Temporal's hard limit
      // (bench/scale). What the handlers changed meanwhile is in `lab`, and the new run
      // allocates first.
      if (!dirty || patched(CONTINUE_UNDER_LOAD_PATCH)) await continueAsNew<typeof schedulerWorkflow>({ config, lab, ...(input.pool !== undefined ? { pool: input.pool } : {}) });
    }
  }
}
