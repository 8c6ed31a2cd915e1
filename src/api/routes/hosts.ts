/**
 * @module Hosts: the lab as the scheduler sees it (state, lease, reasons, queue) with the
 * job each host runs now, and the operator's actions: maintenance on/off, clear or mark
 * broken, remove.
 */
import express, { Router } from 'express';
import { labWithJobs } from '../host-jobs.js';
import { parseOr400 } from '../http-errors.js';
import { authorize } from '../middleware.js';
import { audited, auditTarget, reasonDetail } from '../audit.js';
import { hostIdParam, maintenanceBody, markBrokenBody, powerBody } from './api-schemas.js';
import { HttpError } from '../http-errors.js';
import { principalOf } from '../middleware.js';
import type { RouteDeps } from './deps.js';

export function hostRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { gateway, tokens } = deps;

  r.get('/hosts', authorize(tokens, 'read'), async (_req, res) => {
    const failures = deps.taskFailures.list();
    res.json({
      ...(await labWithJobs(await gateway.lab({ fresh: true }), deps.store)),
      ...(failures.length > 0 ? { workflowTaskFailures: failures } : {}),
    });
  });

  r.post(
    '/hosts/:id/maintenance',
    authorize(tokens, 'operate'),
    audited(deps, 'maintenance', auditTarget.host, (req) => ({ on: (req.body as { on?: unknown } | undefined)?.on })),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const hostId = parseOr400(hostIdParam, req.params.id, 'host id');
      const { on } = parseOr400(maintenanceBody, req.body, 'body');
      res.json(await gateway.hostAction({ hostId, action: on ? 'maintenance-on' : 'maintenance-off' }));
    },
  );

  r.post(
    '/hosts/:id/clear-broken',
    authorize(tokens, 'operate'),
    audited(deps, 'clear-broken', auditTarget.host),
    async (req, res) => {
      const hostId = parseOr400(hostIdParam, req.params.id, 'host id');
      res.json(await gateway.hostAction({ hostId, action: 'clear-broken' }));
    },
  );

  r.post(
    '/hosts/:id/mark-broken',
    authorize(tokens, 'operate'),
    audited(deps, 'mark-broken', auditTarget.host, reasonDetail),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const hostId = parseOr400(hostIdParam, req.params.id, 'host id');
      const { reason } = parseOr400(markBrokenBody, req.body ?? {}, 'body');
      res.json(await gateway.hostAction({ hostId, action: 'mark-broken', ...(reason ? { reason } : {}) }));
    },
  );

  r.post(
    '/hosts/:id/power',
    authorize(tokens, 'operate'),
    audited(deps, 'power', auditTarget.host, (req) => ({
      action: (req.body as { action?: unknown } | undefined)?.action,
    })),
    express.json({ limit: '4kb' }),
    async (req, res) => {
      const hostId = parseOr400(hostIdParam, req.params.id, 'host id');
      const { action } = parseOr400(powerBody, req.body ?? {}, 'body');
      const answer = await gateway.powerHost(hostId, action, principalOf(res).name);
      if (!answer) throw new HttpError(404, `unknown host ${hostId}`);
      if (!answer.ran) throw new HttpError('unreachable' in answer ? 503 : 409, answer.summary);
      // A command that ran and failed is an answer, not an error of the request: ok says which.
      res.json({
        hostId,
        action,
        ok: answer.ok,
        exitCode: answer.exitCode,
        output: answer.output,
        summary: answer.summary,
      });
    },
  );

  r.delete(
    '/hosts/:id',
    authorize(tokens, 'operate'),
    audited(deps, 'remove-host', auditTarget.host),
    async (req, res) => {
      const hostId = parseOr400(hostIdParam, req.params.id, 'host id');
      await gateway.hostAction({ hostId, action: 'remove' });
      res.status(204).end();
    },
  );

  return r;
}
