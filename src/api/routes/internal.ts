/**
 * @module The control worker's writes: open a job record under a lease (the fencing
 * token uploads must carry), finish and seal it, keep a batch run's test list and
 * verdicts (and the late reports of fenced batches), and store a submission's record (health checks) or final view.
 */
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import express, { Router } from 'express';
import { compact } from '../../domain/compact.js';
import type { JobResult } from '../../domain/outcome.js';
import { buildPlan } from '../../domain/plan.js';
import type { SubmissionView } from '../../domain/views.js';
import { parseOr400, HttpError } from '../http-errors.js';
import { authorize } from '../middleware.js';
import type { LateReport } from '../../domain/batch-ledger.js';
import type { SubmissionRecord } from '../store/result-store.js';
import {
  taskFailureReportBody,
  batchRunNameParam,
  batchTestsBody,
  batchTestsQuery,
  finalViewBody,
  finishJobBody,
  jobIdParam,
  lateReportBody,
  openJobBody,
  submissionIdParam,
  submissionRecordBody,
  verdictsBody,
} from './api-schemas.js';
import { reconcileRunning } from '../reconcile.js';
import type { RouteDeps } from './deps.js';
import { carryOverFailure } from '../carry-over.js';

/** Keeps the host's capabilities with a job record, for its investigation later (the scheduler's view; best effort). */
async function noteHostCapabilities(deps: RouteDeps, jobId: string, hostId: string): Promise<void> {
  try {
    const host = (await deps.gateway.lab()).hosts.find((h) => h.id === hostId);
    if (host)
      await deps.store.review.recordHostCapabilities(
        jobId,
        Object.fromEntries(Object.entries(host.capabilities).map(([k, v]) => [k, String(v)])),
      );
  } catch (err) {
    deps.log.debug('could not record the host capabilities of a job', { job: jobId, error: String(err) });
  }
}

export function internalRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { store, tokens } = deps;
  const control = authorize(tokens, 'control');

  r.put('/internal/jobs/:id', control, express.json({ limit: '64kb' }), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const body = parseOr400(openJobBody, req.body, 'body');
    if (body.jobId !== id) throw new HttpError(400, 'jobId in the body differs from the URL');
    // A fresh random token; a record open already under this lease keeps its own.
    const { leaseToken, ...record } = await store.openJob({
      ...body,
      leaseToken: randomBytes(16).toString('base64url'),
    });
    if (!record.hostCapabilities) void noteHostCapabilities(deps, record.id, record.hostId);
    res.json({ ...record, uploadToken: deps.payloadKey.seal(leaseToken, record.submissionId) });
  });

  r.post('/internal/jobs/:id/finish', control, express.json({ limit: '64kb' }), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const body = parseOr400(finishJobBody, req.body, 'body');
    // The store checks the lease id in the transaction that seals.
    const { leaseToken: _token, ...record } = await store.finishJob(id, body.leaseId, body.result as JobResult);
    if (deps.review?.carryOver)
      await carryOverFailure(store, { ...record, leaseToken: '' }, deps.review.bugRefs).catch((err: unknown) =>
        deps.log.warn('carry-over failed', { job: id, error: String(err) }),
      );
    // A retried finish finds the job sealed and enqueues nothing new (an event reaches a queue once).
    await deps.notifier.jobDone(record);
    res.json(record);
  });

  r.put(
    '/internal/batch-runs/:submissionId/:runName/tests',
    control,
    express.json({ limit: '64mb' }),
    async (req, res) => {
      const submissionId = parseOr400(submissionIdParam, req.params.submissionId, 'submission id');
      const runName = parseOr400(batchRunNameParam, req.params.runName, 'batch run name');
      const { tests } = parseOr400(batchTestsBody, req.body, 'body');
      await store.putBatchTests(submissionId, runName, tests);
      res.status(204).end();
    },
  );

  r.get('/internal/batch-runs/:submissionId/:runName/tests', control, async (req, res) => {
    const submissionId = parseOr400(submissionIdParam, req.params.submissionId, 'submission id');
    const runName = parseOr400(batchRunNameParam, req.params.runName, 'batch run name');
    const { offset, limit } = parseOr400(batchTestsQuery, req.query, 'query');
    res.json({ tests: await store.getBatchTests(submissionId, runName, offset, limit) });
  });

  r.put('/internal/jobs/:id/verdicts', control, express.json({ limit: '64mb' }), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const body = parseOr400(verdictsBody, req.body, 'body');
    await store.putBatchVerdicts(id, body.offset, body.verdicts);
    res.status(204).end();
  });

  r.post('/internal/jobs/:id/late', control, express.json({ limit: '8mb' }), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const body = parseOr400(lateReportBody, req.body, 'body');
    if (!body.batchId.startsWith(`${id}.`))
      throw new HttpError(400, `batchId: ${body.batchId} is not a batch of batch run ${id}`);
    await store.addLateReport(id, body as LateReport);
    res.status(204).end();
  });

  r.put('/internal/submissions/:id/record', control, express.json({ limit: '8mb' }), async (req, res) => {
    const id = parseOr400(submissionIdParam, req.params.id, 'submission id');
    const body = parseOr400(submissionRecordBody, req.body, 'body');
    if (body.id !== id) throw new HttpError(400, 'id in the body differs from the URL');
    // The plan is the scheduler's buildPlan of the submission: built again here, not taken on trust.
    const plan = buildPlan(body.submission);
    if (!isDeepStrictEqual(body.plan, JSON.parse(JSON.stringify(plan))))
      throw new HttpError(400, 'invalid body', [
        { path: ['plan'], message: 'differs from the plan of the submission (buildPlan)' },
      ]);
    const record: SubmissionRecord = { ...body, plan };
    if (!(await store.getSubmission(id))) await store.createSubmission(record);
    res.status(204).end();
  });

  r.put('/internal/submissions/:id', control, express.json({ limit: '32mb' }), async (req, res) => {
    const id = parseOr400(submissionIdParam, req.params.id, 'submission id');
    const view: SubmissionView = parseOr400(finalViewBody, req.body, 'body');
    if (view.id !== id) throw new HttpError(400, 'id in the body differs from the URL');
    await store.finishSubmission(view);
    await deps.notifier.submissionDone(view);
    res.status(204).end();
  });

  r.put('/internal/control-workers/:worker/task-failures', control, express.json({ limit: '256kb' }), (req, res) => {
    const report = parseOr400(taskFailureReportBody, req.body, 'body');
    deps.taskFailures.record(compact({ ...report, recent: report.recent.map((f) => compact(f)) }));
    res.status(204).end();
  });

  r.post('/internal/reconcile', control, express.json({ limit: '1kb' }), async (_req, res) => {
    res.json({ ended: await reconcileRunning(deps) });
  });

  r.post('/internal/retention', control, async (_req, res) => {
    const report = await store.applyRetention(deps.retention);
    deps.log.info('retention: deleted what is past its time', { ...report, policy: deps.retention });
    res.json({ ...report, policy: deps.retention });
  });

  return r;
}
