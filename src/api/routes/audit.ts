/**
 * @module The audit log: `GET /audit` (operators), newest first, by target (a submission
 * with its jobs), actor or action; what writes it is audited() in ../audit.ts.
 */
import { Router } from 'express';
import { parseOr400 } from '../http-errors.js';
import { authorize } from '../middleware.js';
import type { RouteDeps } from './deps.js';
import { auditQuery } from './notify-schemas.js';

export function auditRoutes(deps: RouteDeps): Router {
  const r = Router();
  r.get('/audit', authorize(deps.tokens, 'operate'), async (req, res) => {
    const q = parseOr400(auditQuery, req.query, 'query');
    res.json({
      entries: await deps.notify.listAudit({
        limit: q.limit,
        ...(q.target ? { targetId: q.target, withChildren: q.children === '1' || q.children === 'true' } : {}),
        ...(q.kind ? { targetKind: q.kind } : {}),
        ...(q.actor ? { actor: q.actor } : {}),
        ...(q.action ? { action: q.action } : {}),
        ...(q.before !== undefined ? { before: q.before } : {}),
      }),
    });
  });
  return r;
}
