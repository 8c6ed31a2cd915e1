/**
 * @module Submissions: submit a job spec (JSON or YAML), list, read one with every job's
 * state, result, host and reason, and cancel.
 */
import { randomBytes } from 'node:crypto';
import express, { Router } from 'express';
import { jobId, submissionWorkflowId } from '../../domain/ids.js';
import type { Submission } from '../../domain/job.js';
import { parseSpecText, validateSpec, type SpecIssue } from '../../domain/parse-spec.js';
import { JOB_DEFAULTS } from '../../domain/spec.js';
import { RESERVE_DEFAULTS, reserveCapIssues } from '../../domain/reservation.js';
import { pinnedHostIssues } from '../reservations.js';
import { buildPlan, initialJobNumbers } from '../../domain/plan.js';
import type { RestartHistory } from '../../domain/restart.js';
import { HttpError, parseOr400 } from '../http-errors.js';
import { liveSubmissionView } from '../live-view.js';
import { reconcileSubmission } from '../reconcile.js';
import { sealSecrets } from '../secrets.js';
import { isTemporalRefusal } from '../temporal-gateway.js';
import { authorize, principalOf } from '../middleware.js';
import { audited, auditTarget, reasonDetail } from '../audit.js';
import { keepBody, listQuery, reasonBody, submissionIdParam } from './api-schemas.js';
import type { RouteDeps } from './deps.js';

/** Time-sortable, URL-safe, lowercase: base-36 milliseconds plus 4 random characters. */
export function newSubmissionId(): string {
  const random = [...randomBytes(4)].map((b) => (b % 36).toString(36)).join('');
  return `${Date.now().toString(36)}${random}`;
}

export interface Accepted {
  id: string;
  workflowId: string;
  jobs: { id: string; name: string }[];
}

/**
 * The largest plan a submission workflow takes as input. Temporal refuses payloads over
 * 2 MiB; what is bigger (huge settings) belongs in assets. Batch runs' test lists are
 * not in the plan: they go to the result store.
 */
export const MAX_PLAN_BYTES = 1_500_000;

/**
 * Checks a valid submission against this server's limits, records it and starts its
 * workflow. Used by submit and by restart (which passes the lineage of the jobs and
 * their history: attempts go on counting, earlier hosts are preferred least).
 */
export async function acceptSubmission(
  deps: RouteDeps,
  submission: Submission,
  by: string,
  restart?: {
    of: { submissionId: string; jobId: string };
    lineage: Record<string, string>;
    history?: Record<string, RestartHistory>;
  },
): Promise<Accepted> {
  const cap = deps.runConfig.maxRetriesCap;
  const overCap: SpecIssue[] = submission.jobs.flatMap((j, i) =>
    j.maxRetries > cap
      ? [{ path: ['jobs', i, 'maxRetries'], message: `${j.maxRetries} is above this server's cap of ${cap}` }]
      : [],
  );
  overCap.push(...reserveCapIssues(submission.jobs, deps.runConfig.maxReserveMs ?? RESERVE_DEFAULTS.maxReserveMs));
  overCap.push(...(await pinnedHostIssues(deps, submission)));
  overCap.push(...deps.notifier.commitIssues(submission));
  if (overCap.length > 0) throw new HttpError(400, 'invalid job spec', overCap);
  const id = newSubmissionId();
  // From here on its secrets are ciphertext: in the store, the plan and Temporal.
  const sealed = sealSecrets(deps.payloadKey, submission, id, restart?.of.submissionId);
  const plan = buildPlan(sealed);
  const planBytes = Buffer.byteLength(JSON.stringify(plan));
  if (planBytes > MAX_PLAN_BYTES) {
    throw new HttpError(
      413,
      `the submission's jobs take ${planBytes} bytes, above the ${MAX_PLAN_BYTES} a submission may hold: keep settings small and put large data into assets`,
    );
  }
  const createdAt = new Date().toISOString();
  const workflowId = submissionWorkflowId(id);
  const record = {
    id,
    createdAt,
    submission: sealed,
    plan,
    workflowId,
    submittedBy: by,
    ...(submission.name !== undefined ? { name: submission.name } : {}),
    ...(restart ? { restartOf: restart.of } : {}),
  };
  await deps.store.createSubmission(record);
  // Pending goes into the commit's queue before the workflow can end (its final status queues behind it).
  // It is a courtesy: the final status is what counts, and that one is durable.
  await deps.notifier
    .submissionAccepted(record)
    .catch((err: unknown) => deps.log.warn('could not enqueue the commit status pending', { id, error: String(err) }));
  try {
    await deps.gateway.startSubmission(
      id,
      plan,
      createdAt,
      { ...(restart ? { lineage: restart.lineage } : {}), ...(restart?.history ? { restarted: restart.history } : {}) },
      by,
    );
  } catch (err) {
    // A start can fail after Temporal took it (a timeout on the way back): then it stands.
    // Otherwise the record goes, so no submission is listed that will never run.
    const started = await deps.gateway.submissionExists(id).catch(() => undefined);
    if (started !== true) {
      deps.log.error('could not start submission workflow', { id, error: String(err) });
      if (started === false) {
        await deps.store.dropSubmission(id);
        await deps.notifier.submissionRefused(record, 'Temporal did not accept the submission').catch(() => undefined);
      }
      const message = err instanceof Error ? err.message : String(err);
      // Refused (a limit the planner should have caught) is Testbay's bug, not Temporal being down.
      if (isTemporalRefusal(err)) throw new HttpError(500, `Temporal refused the submission's workflow: ${message}`);
      throw new HttpError(503, `Temporal did not accept the submission: ${message}`);
    }
    deps.log.warn('submission start reported an error, but its workflow runs', { id, error: String(err) });
  }
  if (restart) await deps.store.noteRestart(restart.of.submissionId, id);
  deps.log.info('submission accepted', {
    id,
    jobs: plan.jobs.length,
    by,
    ...(restart ? { restartOf: restart.of.jobId } : {}),
  });
  const numbers = initialJobNumbers(plan);
  return { id, workflowId, jobs: plan.jobs.map((j) => ({ id: jobId(id, numbers.get(j.name)!), name: j.name })) };
}

export function submissionRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { store, gateway, tokens } = deps;

  r.post(
    '/submissions',
    authorize(tokens, 'submit'),
    express.json({ limit: '16mb' }), // a batch run may list 100,000 test ids
    express.text({ type: ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'], limit: '16mb' }),
    async (req, res) => {
      const parsed = typeof req.body === 'string' ? parseSpecText(req.body) : validateSpec(req.body);
      if (!parsed.ok) throw new HttpError(400, 'invalid job spec', parsed.issues);
      const principal = principalOf(res);
      // Jumping the queue is the operators' call: a submitter may only wait longer than the default.
      if (principal.role !== 'operate') {
        const urgent: SpecIssue[] = [
          ...parsed.submission.jobs.flatMap((j, i) =>
            j.priority < JOB_DEFAULTS.priority
              ? [
                  {
                    path: ['jobs', i, 'priority'],
                    message: `${j.priority} is ahead of the default ${JOB_DEFAULTS.priority}: only an operate token may submit it`,
                  },
                ]
              : [],
          ),
          ...(parsed.submission.batchRuns ?? []).flatMap((b, i) =>
            b.priority < JOB_DEFAULTS.priority
              ? [
                  {
                    path: ['batchRuns', i, 'priority'],
                    message: `${b.priority} is ahead of the default ${JOB_DEFAULTS.priority}: only an operate token may submit it`,
                  },
                ]
              : [],
          ),
        ];
        if (urgent.length > 0) throw new HttpError(403, 'priority below the default needs the operate role', urgent);
      }
      deps.submissionRate.take(principal.name);
      const created = await acceptSubmission(deps, parsed.submission, principal.name);
      res.status(201).json(created);
    },
  );

  r.get('/submissions', authorize(tokens, 'read'), async (req, res) => {
    const q = parseOr400(listQuery, req.query, 'query');
    const items = await store.listSubmissions({
      limit: q.limit,
      ...(q.state ? { state: q.state } : {}),
      ...(q.result ? { result: q.result } : {}),
      ...(q.host ? { host: q.host } : {}),
      ...(q.q ? { text: q.q } : {}),
      ...(q.scenario ? { scenario: q.scenario } : {}),
    });
    res.json({ submissions: items });
  });

  r.get('/submissions/:id', authorize(tokens, 'read'), async (req, res) => {
    const id = parseOr400(submissionIdParam, req.params.id, 'submission id');
    res.json(await liveSubmissionView(deps, id));
  });

  r.post(
    '/submissions/:id/keep',
    authorize(tokens, 'submit'),
    audited(deps, 'keep', auditTarget.submission, (req) => ({
      keep: (req.body as { keep?: unknown } | undefined)?.keep ?? true,
    })),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const id = parseOr400(submissionIdParam, req.params.id, 'submission id');
      const { keep } = parseOr400(keepBody, req.body ?? {}, 'body');
      await store.setKeep(id, keep);
      deps.log.info(keep ? 'submission kept beyond retention' : 'submission no longer kept', {
        id,
        by: principalOf(res).name,
      });
      res.json({ id, keep });
    },
  );

  r.post(
    '/submissions/:id/cancel',
    authorize(tokens, 'submit'),
    audited(deps, 'cancel', auditTarget.submission, reasonDetail),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const id = parseOr400(submissionIdParam, req.params.id, 'submission id');
      const body = parseOr400(reasonBody, req.body ?? {}, 'body');
      const record = await store.getSubmission(id);
      if (!record) throw new HttpError(404, `no submission ${id}`);
      const reason = `cancelled by ${principalOf(res).name}${body.reason ? `: ${body.reason}` : ''}`;
      if (!(await gateway.cancel(id, { reason }))) {
        // Its workflow is gone while the store says running: end it (aborted) rather than refuse.
        const ended = record.final ? undefined : await reconcileSubmission(deps, record);
        if (!ended) throw new HttpError(409, `submission ${id} has already finished`);
        res.status(200).json({ id, cancelling: false, result: ended.result });
        return;
      }
      res.status(202).json({ id, cancelling: true });
    },
  );

  return r;
}
