/**
 * @module The control worker's writes: open a job record under a lease (the fencing
 * token uploads must carry), finish and seal it, and store a submission's final view.
 */
import express, { Router } from 'express';
import { z } from 'zod';
import { parseOr400, HttpError } from '../http-errors.js';
import { authorize } from '../middleware.js';
import { jobIdParam } from './jobs.js';
import type { RouteDeps } from './deps.js';
import type { JobResult } from '../../domain/outcome.js';
import type { SubmissionView } from '../../domain/views.js';
import type { SubmissionRecord } from '../store/result-store.js';

const openBody = z.strictObject({
  jobId: z.string(),
  submissionId: z.string(),
  name: z.string(),
  attempt: z.number().int().min(1),
  setNumber: z.number().int().min(0),
  hostId: z.string(),
  leaseToken: z.string().min(1),
});
const finishBody = z.strictObject({
  leaseToken: z.string().min(1),
  result: z.looseObject({ kind: z.enum(['passed', 'failed', 'aborted', 'cancelled', 'skipped']) }),
});

export function internalRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { store, tokens } = deps;
  const control = authorize(tokens, 'control');

  r.put('/internal/jobs/:id', control, express.json({ limit: '64kb' }), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const body = parseOr400(openBody, req.body, 'body');
    if (body.jobId !== id) throw new HttpError(400, 'jobId in the body differs from the URL');
    res.json(await store.openJob(body));
  });

  r.post('/internal/jobs/:id/finish', control, express.json({ limit: '64kb' }), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const body = parseOr400(finishBody, req.body, 'body');
    const job = await store.getJob(id);
    if (!job) throw new HttpError(404, `no job ${id}`);
    if (job.leaseToken !== body.leaseToken) throw new HttpError(409, `job ${id} is open under another lease`);
    res.json(await store.finishJob(id, body.result as JobResult));
  });

  r.put('/internal/batch-runs/:submissionId/:runName/tests', control, express.json({ limit: '64mb' }), async (req, res) => {
    const { tests } = parseOr400(z.strictObject({ tests: z.array(z.string().min(1).max(300)).max(1_000_000) }), req.body, 'body');
    await store.putBatchTests(String(req.params.submissionId), String(req.params.runName), tests);
    res.status(204).end();
  });

  r.get('/internal/batch-runs/:submissionId/:runName/tests', control, async (req, res) => {
    const { offset, limit } = parseOr400(z.object({ offset: z.coerce.number().int().min(0), limit: z.coerce.number().int().min(1).max(100_000) }), req.query, 'query');
    res.json({ tests: await store.getBatchTests(String(req.params.submissionId), String(req.params.runName), offset, limit) });
  });

  r.put('/internal/jobs/:id/verdicts', control, express.json({ limit: '64mb' }), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const body = parseOr400(
      z.strictObject({ offset: z.number().int().min(0), verdicts: z.array(z.looseObject({ test: z.string(), verdict: z.string(), attempts: z.number() })) }),
      req.body,
      'body',
    );
    await store.putBatchVerdicts(id, body.offset, body.verdicts);
    res.status(204).end();
  });

  r.put('/internal/submissions/:id/record', control, express.json({ limit: '8mb' }), async (req, res) => {
    const record = req.body as SubmissionRecord;
    if (record.id !== req.params.id) throw new HttpError(400, 'id in the body differs from the URL');
    if (!(await store.getSubmission(record.id))) await store.createSubmission(record);
    res.status(204).end();
  });

  r.put('/internal/submissions/:id', control, express.json({ limit: '32mb' }), async (req, res) => {
    const view = req.body as SubmissionView;
    if (view.id !== req.params.id) throw new HttpError(400, 'id in the body differs from the URL');
    await store.finishSubmission(view);
    res.status(204).end();
  });

  return r;
}
