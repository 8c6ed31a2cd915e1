/**
 * @module Rerun what failed: `POST /submissions/:id/restart {"failed": true}` reruns every
 * failed, aborted and skipped job of a finished submission (their latest attempts) as one
 * new submission; jobs that passed run again only where a job to rerun needs them to be
 * placed (restart.ts: selectFailedRerun). Attempts go on counting, earlier hosts are
 * preferred least, as with a job's restart.
 */
import express, { Router } from 'express';
import { restartHistory, selectFailedRerun } from '../../domain/restart.js';
import { latestAttempts } from '../../domain/views.js';
import { audited, auditTarget } from '../audit.js';
import { HttpError, parseOr400 } from '../http-errors.js';
import { liveSubmissionView } from '../live-view.js';
import { authorize, principalOf } from '../middleware.js';
import { submissionIdParam } from './api-schemas.js';
import type { RouteDeps } from './deps.js';
import { rerunBody } from './review-schemas.js';
import { acceptSubmission } from './submissions.js';

export function rerunRoutes(deps: RouteDeps): Router {
  const r = Router();
  r.post(
    '/submissions/:id/restart',
    authorize(deps.tokens, 'submit'),
    audited(deps, 'restart', auditTarget.submission, (_req, answer) => ({
      failed: true,
      as: (answer as { id?: string } | undefined)?.id,
    })),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const id = parseOr400(submissionIdParam, req.params.id, 'submission id');
      parseOr400(rerunBody, req.body ?? {}, 'body');
      const record = await deps.store.getSubmission(id);
      if (!record) throw new HttpError(404, `no submission ${id}`);
      const view = await liveSubmissionView(deps, id);
      if (view.state !== 'done') throw new HttpError(409, `submission ${id} has not finished; cancel it first`);
      const again = selectFailedRerun(record.submission, view);
      if (!again) throw new HttpError(409, `submission ${id} has no failed, aborted or skipped job to rerun`);
      const latest = new Map(latestAttempts(view.jobs).map((j) => [j.name, j.id]));
      const lineage = Object.fromEntries(
        again.jobs.flatMap((j) => (latest.has(j.name) ? [[j.name, latest.get(j.name)!]] : [])),
      );
      const history = restartHistory(
        view,
        again.jobs.map((j) => j.name),
      );
      const first = again.jobs.map((j) => latest.get(j.name)).find((x) => x !== undefined) ?? id;
      res.status(201).json(
        await acceptSubmission(deps, again, principalOf(res).name, {
          of: { submissionId: id, jobId: first },
          lineage,
          history,
        }),
      );
    },
  );
  return r;
}
