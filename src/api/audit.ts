/**
 * @module The audit log's one entry point: `audited(deps, action, target)` goes into a
 * route's chain (after authorize) and records who (the token's name and role), what,
 * on which target, when, and from which address, once the route answered with success.
 * The entry is written before the answer leaves, so whoever acted finds it in GET /audit
 * at once; a failed write is logged and does not undo what was done.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from '../logger.js';
import { principalOf } from './middleware.js';
import type { NotifyStore } from './store/notify-store.js';

export type AuditTargetKind = 'submission' | 'job' | 'host' | 'webhook' | 'delivery';

export interface AuditTarget {
  kind: AuditTargetKind;
  id: string;
}

/** Targets from the route's `:id`. */
export const auditTarget = {
  submission: (req: Request): AuditTarget => ({ kind: 'submission', id: String(req.params.id) }),
  job: (req: Request): AuditTarget => ({ kind: 'job', id: String(req.params.id) }),
  host: (req: Request): AuditTarget => ({ kind: 'host', id: String(req.params.id) }),
  webhook: (req: Request): AuditTarget => ({ kind: 'webhook', id: String(req.params.id) }),
  delivery: (req: Request): AuditTarget => ({ kind: 'delivery', id: String(req.params.id) }),
};

/** What the entry says beyond action and target: from the request body and the answer. */
export type AuditDetails = (req: Request, answer: unknown) => Record<string, unknown> | undefined;

/** The body's `reason`, when given. */
export const reasonDetail: AuditDetails = (req) => {
  const reason = (req.body as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' && reason ? { reason } : undefined;
};

export function audited(
  deps: { notify: NotifyStore; log: Logger },
  action: string,
  target: (req: Request, answer: unknown) => AuditTarget,
  details?: AuditDetails,
): RequestHandler {
  return (req, res, next) => {
    let answer: unknown;
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      answer = body;
      return json(body);
    };
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    let recorded = false;
    res.end = ((...args: unknown[]) => {
      if (recorded || res.statusCode >= 400) return end(...args);
      recorded = true;
      const principal = principalOf(res);
      const t = target(req, answer);
      const extra = details?.(req, answer);
      deps.notify
        .addAudit({
          actor: principal.name,
          role: principal.role,
          ...(req.ip ? { address: req.ip } : {}),
          action,
          targetKind: t.kind,
          targetId: t.id,
          ...(extra ? { details: extra } : {}),
        })
        .catch((err: unknown) =>
          deps.log.error('could not write the audit log', {
            action,
            target: t,
            by: principal.name,
            error: String(err),
          }),
        )
        .finally(() => end(...args));
      return res;
    }) as Response['end'];
    next();
  };
}
