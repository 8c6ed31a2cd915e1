/**
 * @module Hosts and the lab on the wire: a host as the scheduler and the job records show
 * it, the lab's queue and pools, control workers' task failures, and the operator's bodies.
 */
import { z } from 'zod';
import { HOST_ID_PATTERN } from '../ids.js';
import { epochMs, iso } from './common.js';
import { HOST_STATES } from '../lab.js';
import { progress } from './results.js';
import { reservation } from './reservations.js';

export const host = z.object({
  id: z.string(),
  state: z.enum(HOST_STATES),
  pool: z
    .string()
    .describe(
      "the pool (one scheduler workflow) the host registered in: its config's `pool`, `default` when none is given",
    ),
  instanceId: z.string(),
  workerClasses: z.array(z.string()),
  capabilities: z.record(z.string(), z.string()),
  hostname: z.string(),
  address: z.string(),
  online: z.boolean(),
  maintenance: z.boolean(),
  broken: z
    .object({ reason: z.string(), source: z.enum(['setup', 'fault', 'aborts', 'operator', 'check']), at: epochMs })
    .optional(),
  lastCheckAt: epochMs.optional().describe('when its last health check ended (for TESTBAY_HEALTH_CHECKS everyMs)'),
  jobsSinceCheck: z.number().int().optional().describe('leases since its last health check (for everyJobs)'),
  canPower: z.boolean().optional().describe('its config has a powerCommand (POST /hosts/{id}/power)'),
  lease: z
    .object({
      requestId: z.string(),
      requester: z.string(),
      label: z.string(),
      since: epochMs,
      healthCheck: z.boolean().optional(),
      reservation: reservation.optional(),
    })
    .optional(),
  check: z.object({ submissionId: z.string(), why: z.string(), since: epochMs }).optional(),
  offline: z.object({ reason: z.string(), since: epochMs }).optional(),
  consecutiveAborts: z.number().int(),
  recentAborts: z.array(z.object({ jobId: z.string(), cause: z.string(), reason: z.string(), at: epochMs })),
  suspects: z
    .array(z.object({ key: z.string(), jobId: z.string(), reason: z.string(), at: epochMs }))
    .optional()
    .describe(
      "aborts the jobs' own runners caused here (crash, timeout, declared abort): each counts towards consecutiveAborts only once that job passes on another host",
    ),
  streak: z
    .array(z.string())
    .optional()
    .describe('submissions counted in the current run of consecutive aborts (each counts once)'),
  leaseCount: z.number().int(),
  lastReleasedAt: epochMs,
  registeredAt: epochMs,
  reservedFor: z.string().optional(),
  currentJob: z
    .object({
      id: z.string(),
      name: z.string(),
      submissionId: z.string(),
      state: z.enum(['scheduled', 'provisioning', 'running', 'uploading', 'done']),
      startedAt: iso.optional(),
      progress: progress.optional(),
    })
    .optional()
    .describe(
      'the job on the host now (running, else the next one of its chain waiting its turn), from the job records',
    ),
});

export const taskFailure = z.object({ at: iso, runId: z.string().max(200).optional(), failure: z.string().max(4000) });

export const lab = z.object({
  hosts: z.array(host),
  queue: z.array(
    z.object({
      requestId: z.string(),
      requester: z.string(),
      label: z.string(),
      priority: z.number(),
      enqueuedAt: epochMs,
      waitingReason: z.string(),
      pool: z.string(),
    }),
  ),
  runId: z.string().describe("the default pool's scheduler run"),
  pools: z
    .array(z.object({ pool: z.string(), runId: z.string() }))
    .describe(
      "every pool of the lab (one scheduler workflow each: `testbay-scheduler` for `default`, `testbay-scheduler-<pool>` for the others), with its scheduler's run",
    ),
  workflowTaskFailures: z
    .array(z.object({ worker: z.string(), total: z.number().int(), recent: z.array(taskFailure), reportedAt: iso }))
    .optional()
    .describe(
      'control workers whose workflow tasks failed since they started: each is a workflow that may be stuck (look its run up in Temporal Web)',
    ),
});

export const hostIdParam = z.string().regex(HOST_ID_PATTERN, 'is not a host id');

export const markBrokenBody = z.strictObject({ reason: z.string().min(1).max(500).optional() }).default({});

export const powerBody = z.strictObject({
  action: z.enum(['on', 'off', 'cycle']).describe("appended to the host config's powerCommand"),
});
export const maintenanceBody = z.strictObject({ on: z.boolean() });

export const taskFailureReportBody = z.strictObject({
  worker: z.string().min(1).max(200),
  total: z.number().int().min(0),
  recent: z.array(taskFailure).max(50),
});
