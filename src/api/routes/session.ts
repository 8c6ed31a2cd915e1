/**
 * @module What the dashboard needs besides the resources themselves: who the token
 * belongs to (so it offers operator buttons only to operators), where Temporal Web is,
 * and a submission's plan (the dependency graph it draws).
 */
import { Router } from 'express';
import { PERMISSIONS } from '../auth.js';
import { HttpError, parseOr400 } from '../http-errors.js';
import { authorize, principalOf } from '../middleware.js';
import type { RouteDeps } from './deps.js';
import { submissionIdParam } from './api-schemas.js';

export interface SessionInfo {
  name: string;
  role: string;
  canOperate: boolean;
  temporalWebUrl: string;
  namespace: string;
}

export function sessionRoutes(deps: RouteDeps): Router {
  const r = Router();
  r.get('/me', authorize(deps.tokens, 'read'), (_req, res) => {
    const p = principalOf(res);
    const info: SessionInfo = {
      name: p.name,
      role: p.role,
      canOperate: (PERMISSIONS.operate as readonly string[]).includes(p.role),
      temporalWebUrl: deps.temporalWebUrl,
      namespace: deps.namespace,
    };
    res.json(info);
  });

  r.get('/submissions/:id/plan', authorize(deps.tokens, 'read'), async (req, res) => {
    const id = parseOr400(submissionIdParam, req.params.id, 'submission id');
    const record = await deps.store.getSubmission(id);
    if (!record) throw new HttpError(404, `no submission ${id}`);
    res.json(record.plan);
  });
  return r;
}
