/**
 * @module Partners: a runner's barriers and messages with the other jobs of its recipe set
 * (`testbay barrier`, `send`, `receive`). These routes take only a job token
 * (TESTBAY_JOB_TOKEN), and a job token opens nothing else: it is good for its own job, while
 * that job's record is open (403 otherwise). Barrier and receive calls long-poll: each waits
 * at most TESTBAY_PARTNER_WAIT_MS and answers `waiting`, and the caller asks again.
 */
import express, { Router, type RequestHandler, type Response } from 'express';
import { recipeSetWorkflowId } from '../../domain/ids.js';
import { MAX_MESSAGE_BYTES } from '../../domain/partners.js';
import { jobTokenOf } from '../../job-token.js';
import { HttpError, parseOr400 } from '../http-errors.js';
import { sameToken } from '../store/lease-token.js';
import type { JobRecord, ResultStore } from '../store/result-store.js';
import { barrierUpdate, receiveUpdate, sendUpdate } from '../../workflows/recipe-set-messages.js';
import { jobIdParam } from './api-schemas.js';
import { barrierBody, barrierParams, messageParams, receiveQuery, sendBody } from './partner-schemas.js';
import type { RouteDeps } from './deps.js';

const jobOf = (res: Response) => res.locals.partnerJob as JobRecord;

/** The job token of the job in the path, for an open record: anything else is 403 (a missing token 401). */
export function requireJobToken(store: ResultStore): RequestHandler {
  return async (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (!match) throw new HttpError(401, 'missing bearer token (Authorization: Bearer $TESTBAY_JOB_TOKEN)');
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const job = await store.getJob(id);
    // One answer whether the job does not exist or the token is another job's.
    if (!job || !sameToken(match[1]!, jobTokenOf(job.leaseToken)))
      throw new HttpError(403, `this token is not the job token of job ${id}`);
    if (job.sealed)
      throw new HttpError(403, `job ${id} has ended (${job.result?.kind ?? 'done'}): its job token is no longer valid`);
    res.locals.partnerJob = job;
    next();
  };
}

export function partnerRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { store, gateway } = deps;
  const window = (asked: number | undefined) => Math.min(asked ?? deps.partnerWaitMs, deps.partnerWaitMs);
  const setOf = (job: JobRecord) => recipeSetWorkflowId(job.submissionId, job.setNumber);

  r.post('/jobs/:id/barriers/:name', requireJobToken(store), express.json({ limit: '4kb' }), async (req, res) => {
    const { name } = parseOr400(barrierParams, req.params, 'path');
    const body = parseOr400(barrierBody, req.body ?? {}, 'body');
    const job = jobOf(res);
    res.json(
      await gateway.partnerUpdate(setOf(job), barrierUpdate, {
        jobId: job.id,
        barrier: name,
        waitMs: window(body.waitMs),
      }),
    );
  });

  r.put(
    '/jobs/:id/messages/:key',
    requireJobToken(store),
    express.json({ limit: `${MAX_MESSAGE_BYTES * 2}b` }),
    async (req, res) => {
      const { key } = parseOr400(messageParams, req.params, 'path');
      const { value } = parseOr400(sendBody, req.body ?? {}, 'body');
      const job = jobOf(res);
      res.json(await gateway.partnerUpdate(setOf(job), sendUpdate, { jobId: job.id, key, value }));
    },
  );

  r.get('/jobs/:id/messages/:key', requireJobToken(store), async (req, res) => {
    const { key } = parseOr400(messageParams, req.params, 'path');
    const query = parseOr400(receiveQuery, req.query, 'query');
    const job = jobOf(res);
    res.json(
      await gateway.partnerUpdate(setOf(job), receiveUpdate, {
        jobId: job.id,
        key,
        ...(query.from !== undefined ? { from: query.from } : {}),
        waitMs: window(query.waitMs),
      }),
    );
  });

  return r;
}
