/**
 * @module HTTP errors as data: handlers throw HttpError (or a store error) and one error
 * middleware turns them into JSON `{ error, issues? }` with the right status.
 */
import type { ErrorRequestHandler } from 'express';
import { z } from 'zod';
import { fromZod, type SpecIssue } from '../domain/parse-spec.js';
import type { Logger } from '../logger.js';
import { StoreError } from './store/result-store.js';
import { isDiskFull, isUnavailable } from './store/sql/db.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues?: SpecIssue[],
  ) {
    super(message);
  }
}

const storeStatus = { 'not-found': 404, conflict: 409, 'too-large': 413, 'bad-name': 400 } as const;

/** Refusals after which the rest of a request's body is not worth reading. */
const CLOSE_AFTER = new Set([401, 403, 413]);

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A refused request whose body is still coming (or never ends) does not keep the connection.
    res.once('finish', () => {
      if (CLOSE_AFTER.has(res.statusCode) && !req.complete) req.socket.destroy();
    });
    const status = err instanceof HttpError ? err.status : undefined;
    if (status !== undefined && CLOSE_AFTER.has(status) && !req.complete) res.set('connection', 'close');
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: err.message, ...(err.issues ? { issues: err.issues } : {}) });
      return;
    }
    if (err instanceof StoreError) {
      res.status(storeStatus[err.code]).json({ error: err.message });
      return;
    }
    if (err instanceof z.ZodError) {
      res.status(400).json({ error: 'invalid request', issues: fromZod(err) });
      return;
    }
    const e = err as {
      type?: string;
      status?: number;
      message?: string;
      code?: string;
      $metadata?: { httpStatusCode?: number };
    };
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT' || isDiskFull(err)) {
      // Nothing accepted is lost: writes are atomic or resumable (a log from the stored
      // offset), so the sender keeps its data and tries again later.
      log.warn('result store is full', { error: e.message });
      res.status(507).json({ error: `result store is full (${e.code}): try again once space is freed` });
      return;
    }
    if (isUnavailable(err) || (e.$metadata?.httpStatusCode ?? 0) >= 500) {
      // The database or the object store is down: nothing was written, the sender tries again.
      log.warn('result store unavailable', { error: e.message ?? String(err) });
      res
        .status(503)
        .json({ error: `result store unavailable (${e.code ?? e.message ?? 'no answer'}): try again later` });
      return;
    }
    if (e.type === 'entity.too.large') {
      res.status(413).json({ error: 'request body too large' });
      return;
    }
    if (e.type === 'entity.parse.failed') {
      res.status(400).json({ error: `body is not valid JSON: ${e.message ?? ''}` });
      return;
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: e.message ?? 'bad request' });
      return;
    }
    log.error('request failed', { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    res.status(500).json({ error: 'internal error' });
  };
}

/** Parses with a zod schema or throws a 400 naming the fields. */
export function parseOr400<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, `invalid ${what}`, fromZod(parsed.error));
  return parsed.data;
}
