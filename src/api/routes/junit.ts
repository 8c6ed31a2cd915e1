/**
 * @module `GET /submissions/:id/junit.xml`: a submission's results as JUnit XML, the same
 * document `testbay results ID --junit` writes, for CI systems and the `junitUrl` of a
 * `submission.done` webhook.
 */
import { Router } from 'express';
import { junitXml } from '../../cli/junit.js';
import type { JobDetails } from '../client.js';
import { latestAttempts } from '../../domain/views.js';
import { parseOr400 } from '../http-errors.js';
import { liveSubmissionView } from '../live-view.js';
import { authorize } from '../middleware.js';
import type { StoredVerdict } from '../../domain/wire/batch-runs.js';
import { submissionIdParam } from './api-schemas.js';
import type { RouteDeps } from './deps.js';
import { jobWorkflowId } from './jobs.js';

export function junitRoutes(deps: RouteDeps): Router {
  const r = Router();
  r.get('/submissions/:id/junit.xml', authorize(deps.tokens, 'read'), async (req, res) => {
    const id = parseOr400(submissionIdParam, req.params.id, 'submission id');
    const view = await liveSubmissionView(deps, id);
    const web = (workflowId: string) =>
      `${deps.temporalWebUrl}/namespaces/${encodeURIComponent(deps.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
    const details = new Map<string, JobDetails>();
    for (const j of latestAttempts(view.jobs)) {
      const record = await deps.store.getJob(j.id);
      details.set(j.id, {
        ...j,
        kind: 'job',
        submissionId: id,
        tests: record?.tests ?? [],
        artifacts: record?.artifacts ?? [],
        logBytes: record?.logBytes ?? 0,
        temporalWebUrl: web(jobWorkflowId(id, j.id, j) ?? view.workflowId),
        submissionWebUrl: web(view.workflowId),
      });
    }
    const verdicts = new Map<string, StoredVerdict[]>();
    for (const run of view.batchRuns ?? []) verdicts.set(run.id, await deps.store.getBatchVerdicts(run.id));
    res.type('application/xml; charset=utf-8').send(junitXml(view, details, verdicts));
  });
  return r;
}
