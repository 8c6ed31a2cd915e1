/**
 * @module What hosts upload while and after a job runs: log chunks (at an offset, so a
 * retried chunk is stored once), progress and state, per-test results, and artifacts.
 * Every request carries the job's lease token; a revoked lease gets 409.
 */
import { PassThrough } from 'node:stream';
import express, { Router, type Request, type Response } from 'express';
import { compact } from '../../domain/compact.js';
import { HttpError, parseOr400 } from '../http-errors.js';
import { authorize, leasedJobOf, leaseOf, requireLease } from '../middleware.js';
import { extendBody, offsetQuery, progressBody, testsBody } from './api-schemas.js';
import { answerOf, artifactName } from './jobs.js';
import { extendJob } from '../extend.js';
import { DEFAULT_MAX_EXTEND_MS, extendedMs } from '../../domain/deadline.js';
import type { RouteDeps } from './deps.js';

export function uploadRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { store, tokens } = deps;
  const leased = [authorize(tokens, 'upload'), requireLease(store)];

  r.post('/jobs/:id/log', ...leased, express.raw({ type: () => true, limit: '8mb' }), async (req, res) => {
    const { offset } = parseOr400(offsetQuery, req.query, 'query');
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    res.json(await store.appendLog(leasedJobOf(res).id, leaseOf(res), offset, body));
  });

  r.post('/jobs/:id/progress', ...leased, express.json({ limit: '64kb' }), async (req, res) => {
    const body = parseOr400(progressBody, req.body, 'body');
    const job = await store.updateJob(
      leasedJobOf(res).id,
      leaseOf(res),
      compact({
        ...body,
        progress: body.progress && compact(body.progress),
        testCode: body.testCode && compact(body.testCode),
      }),
    );
    res.json({ state: job.state });
  });

  // The job's deadline as extended (by people or its runner): the host polls it while the runner runs.
  r.get('/jobs/:id/deadline', ...leased, (_req, res) => {
    const job = leasedJobOf(res);
    res.json({ extendedMs: extendedMs(job.extensions), extensions: job.extensions ?? [] });
  });

  // The runner's status line {"extendMs": …}, through its host.
  r.post('/jobs/:id/deadline', ...leased, express.json({ limit: '4kb' }), async (req, res) => {
    const { byMs } = parseOr400(extendBody, req.body ?? {}, 'body');
    res.json(
      answerOf(
        await extendJob(
          { store, maxExtendMs: deps.runConfig.maxExtendMs ?? DEFAULT_MAX_EXTEND_MS },
          leasedJobOf(res).id,
          byMs,
          { runner: true },
        ),
      ),
    );
  });

  r.put('/jobs/:id/tests', ...leased, express.json({ limit: '32mb' }), async (req, res) => {
    const { tests } = parseOr400(testsBody, req.body, 'body');
    await store.updateJob(leasedJobOf(res).id, leaseOf(res), { tests: tests.map((t) => compact(t)) });
    res.json({ count: tests.length });
  });

  r.put('/jobs/:id/artifacts/*name', ...leased, async (req, res) => {
    const name = artifactName(req.params);
    const declared = Number(req.get('content-length') ?? NaN);
    // A job's artifacts together are bounded too, in number and bytes.
    const job = leasedJobOf(res);
    const others = job.artifacts.filter((a) => a.name !== name);
    if (others.length >= deps.jobArtifactLimits.count)
      throw new HttpError(
        413,
        `job ${job.id} has ${others.length} artifacts, the most a job may keep (TESTBAY_MAX_JOB_ARTIFACTS)`,
      );
    const keptBytes = others.reduce((n, a) => n + a.sizeBytes, 0);
    if (keptBytes + (Number.isFinite(declared) ? declared : 0) > deps.jobArtifactLimits.bytes) {
      discardBody(req, res, Number.isFinite(declared) ? declared : Infinity);
      throw new HttpError(
        413,
        `job ${job.id} keeps ${keptBytes} bytes of artifacts; with this one it would pass the ${deps.jobArtifactLimits.bytes} a job may keep (TESTBAY_MAX_JOB_ARTIFACT_BYTES)`,
      );
    }
    if (Number.isFinite(declared) && declared > deps.maxArtifactBytes) {
      discardBody(req, res, declared);
      throw new HttpError(413, `artifact "${name}" is ${declared} bytes, above the limit of ${deps.maxArtifactBytes}`);
    }
    // The store reads a pass-through, so a refused upload does not destroy the request
    // before its answer is sent.
    const body = new PassThrough();
    req.pipe(body);
    try {
      res
        .status(201)
        .json(await store.putArtifact(leasedJobOf(res).id, leaseOf(res), name, body, deps.maxArtifactBytes));
    } catch (err) {
      req.unpipe(body);
      discardBody(req, res, Number.isFinite(declared) ? declared : Infinity);
      throw err;
    }
  });

  return r;
}

/** Reads and drops the rest of a refused body (small ones), so the client sees the answer. */
function discardBody(req: Request, res: Response, sizeBytes: number): void {
  if (sizeBytes > 64 * 1024 * 1024) res.set('connection', 'close');
  else req.resume();
}
