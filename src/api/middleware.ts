/**
 * @module Request guards: bearer-token authentication with role checks, and the lease
 * check that lets a host write only to a job it currently holds a lease on.
 */
import type { Request, RequestHandler, Response } from 'express';
import { JOB_ID_PATTERN } from '../domain/ids.js';
import { PERMISSIONS, type Permission, type Principal, type TokenRegistry } from './auth.js';
import { HttpError } from './http-errors.js';
import { sameToken } from './store/lease-token.js';
import type { JobRecord, ResultStore } from './store/result-store.js';

export const LEASE_HEADER = 'x-testbay-lease';

export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}
export function leasedJobOf(res: Response): JobRecord {
  return res.locals.job as JobRecord;
}
/** The lease token the request carried (checked by requireLease). */
export function leaseOf(res: Response): string {
  return res.locals.lease as string;
}

export interface AuthorizeOptions {
  /**
   * Whether this request may carry its token as `?token=`. Only Server-Sent Event streams
   * need it (EventSource cannot set headers); anywhere else a token in a URL ends up in
   * histories, logs and referrers, so it is refused.
   */
  queryToken?: (req: Request) => boolean;
}

export function authorize(
  tokens: TokenRegistry,
  permission: Permission,
  options: AuthorizeOptions = {},
): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const queryToken = typeof req.query.token === 'string' ? req.query.token : undefined;
    if (!match && queryToken !== undefined && !(req.method === 'GET' && options.queryToken?.(req))) {
      throw new HttpError(
        401,
        '?token= is only accepted by the event streams (GET /events, GET /jobs/:id/log?follow=1): send Authorization: Bearer <token>',
      );
    }
    const token = match?.[1] ?? queryToken;
    if (!token) throw new HttpError(401, 'missing bearer token (Authorization: Bearer <token>)');
    const principal = tokens.authenticate(token);
    if (!principal) throw new HttpError(401, 'unknown token');
    const allowed: readonly string[] = PERMISSIONS[permission];
    if (!allowed.includes(principal.role)) {
      throw new HttpError(403, `a ${principal.role} token may not ${permission}; needs one of: ${allowed.join(', ')}`);
    }
    res.locals.principal = principal;
    next();
  };
}

/** `?follow=1`: a log followed as Server-Sent Events (which may pass its token as `?token=`). */
export const wantsFollow = (req: Request): boolean => req.query.follow === '1' || req.query.follow === 'true';

/** Compares two secrets in constant time (for equal lengths; a length differs at once). */
export function sameSecret(given: string, known: string): boolean {
  return sameToken(given, known);
}

/**
 * The job must be open, not ended, leased under the given token, and (for a bound host
 * token) to this host. A job the caller does not hold gets one answer, whether it does
 * not exist, is another host's, or is leased under another token: nothing tells a host
 * which job ids exist. A quick refusal; the store checks token and seal again in the
 * statement or transaction that writes.
 */
export function requireLease(store: ResultStore): RequestHandler {
  return async (req, res, next) => {
    const id = String(req.params.id);
    const token = req.get(LEASE_HEADER);
    if (!token) throw new HttpError(400, `missing ${LEASE_HEADER} header (the lease token of the job)`);
    const job = JOB_ID_PATTERN.test(id) ? await store.getJob(id) : undefined;
    const principal = principalOf(res);
    const holds =
      job !== undefined &&
      (principal.hostId === undefined || principal.hostId === job.hostId) &&
      sameSecret(token, job.leaseToken);
    if (!holds) throw new HttpError(409, `lease revoked: no lease of job ${id} is held with this token`);
    if (job.sealed) throw new HttpError(409, `lease revoked: job ${id} has ended (${job.result?.kind ?? 'done'})`);
    res.locals.job = job;
    res.locals.lease = token;
    next();
  };
}

/**
 * At most `max` live streams (Server-Sent Events) open per token: a dashboard needs one
 * and a followed log another; more from one token is a leak or an attack, answered 429.
 */
export function streamLimit(max: number, applies: (req: Request) => boolean = () => true): RequestHandler {
  const open = new Map<string, number>();
  return (req, res, next) => {
    if (!applies(req)) return next();
    const who = principalOf(res).name;
    const now = open.get(who) ?? 0;
    if (now >= max)
      throw new HttpError(429, `${who} has ${now} live streams open already (the limit is ${max}): close one first`);
    open.set(who, now + 1);
    res.once('close', () => {
      const left = (open.get(who) ?? 1) - 1;
      if (left > 0) open.set(who, left);
      else open.delete(who);
    });
    next();
  };
}
