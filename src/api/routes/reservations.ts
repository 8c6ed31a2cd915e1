/**
 * @module Reservations and priorities over HTTP: extend or release a job's reservation or a
 * host's, lend a host (`testbay reserve`), and change a queued job's priority (PATCH).
 * Handlers stay thin: api/reservations.ts does the work.
 */
import express, { Router } from 'express';
import { parseOr400 } from '../http-errors.js';
import { authorize, principalOf } from '../middleware.js';
import { audited, auditTarget, reasonDetail } from '../audit.js';
import {
  changePriority,
  extendReservation,
  lendHost,
  releaseReservation,
  type ReservationTarget,
} from '../reservations.js';
import { extendBody, hostIdParam, jobIdParam, loanBody, priorityBody } from './api-schemas.js';
import type { RouteDeps } from './deps.js';

const byMsDetail = (req: express.Request) => ({ byMs: (req.body as { byMs?: unknown } | undefined)?.byMs });

export function reservationRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { tokens } = deps;
  const json = express.json({ limit: '16kb' });
  const jobTarget = (id: unknown): ReservationTarget => ({ jobId: parseOr400(jobIdParam, id, 'job id') });
  const hostTarget = (id: unknown): ReservationTarget => ({ hostId: parseOr400(hostIdParam, id, 'host id') });

  // The same extension for a job's reservation and a host's: only the target differs.
  const extend =
    (target: (id: unknown) => ReservationTarget) => async (req: express.Request, res: express.Response) => {
      const of = target(req.params.id);
      const { byMs } = parseOr400(extendBody, req.body ?? {}, 'body');
      res.json(await extendReservation(deps, of, byMs, principalOf(res)));
    };
  r.post(
    '/jobs/:id/reservation/extend',
    authorize(tokens, 'submit'),
    audited(deps, 'extend-reservation', auditTarget.job, byMsDetail),
    json,
    extend(jobTarget),
  );
  r.post(
    '/jobs/:id/reservation/release',
    authorize(tokens, 'submit'),
    audited(deps, 'release-reservation', auditTarget.job),
    async (req, res) => {
      res.json(await releaseReservation(deps, jobTarget(req.params.id), principalOf(res)));
    },
  );
  r.post(
    '/hosts/:id/reservation/extend',
    authorize(tokens, 'submit'),
    audited(deps, 'extend-reservation', auditTarget.host, byMsDetail),
    json,
    extend(hostTarget),
  );
  r.post(
    '/hosts/:id/release',
    authorize(tokens, 'submit'),
    audited(deps, 'release-reservation', auditTarget.host),
    async (req, res) => {
      res.json(await releaseReservation(deps, hostTarget(req.params.id), principalOf(res)));
    },
  );
  r.post(
    '/hosts/:id/reserve',
    authorize(tokens, 'submit'),
    audited(deps, 'reserve', auditTarget.host, reasonDetail),
    json,
    async (req, res) => {
      const hostId = parseOr400(hostIdParam, req.params.id, 'host id');
      const { forMs, reason } = parseOr400(loanBody, req.body ?? {}, 'body');
      res.status(201).json(await lendHost(deps, hostId, forMs, reason, principalOf(res)));
    },
  );
  r.patch(
    '/jobs/:id',
    authorize(tokens, 'submit'),
    audited(deps, 'priority', auditTarget.job, (req) => ({
      priority: (req.body as { priority?: unknown } | undefined)?.priority,
    })),
    json,
    async (req, res) => {
      const id = parseOr400(jobIdParam, req.params.id, 'job id');
      const { priority } = parseOr400(priorityBody, req.body ?? {}, 'body');
      res.json(await changePriority(deps, id, priority, principalOf(res)));
    },
  );
  return r;
}
