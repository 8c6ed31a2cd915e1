/**
 * @module Jobs: read one job (with its stored record: tests, artifacts), cancel it (the
 * whole chain it belongs to), read or follow its log (a byte range, or its last bytes, as
 * text; or Server-Sent Events from there on to the end), and fetch its artifacts.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import express, { Router, type Response } from 'express';
import { batchRunWorkflowId, chainWorkflowId, parseJobId, submissionOfJob } from '../../domain/ids.js';
import { HttpError, parseOr400 } from '../http-errors.js';
import { liveSubmissionView } from '../live-view.js';
import { restartHistory, selectRestart } from '../../domain/restart.js';
import { latestAttempts, type JobView } from '../../domain/views.js';
import { acceptSubmission } from './submissions.js';
import { authorize, principalOf, wantsFollow } from '../middleware.js';
import { audited, auditTarget, reasonDetail } from '../audit.js';
import { artifactHeaders, untrusted } from '../untrusted-content.js';
import type { ResultStore } from '../store/result-store.js';
import { extendBody, jobIdParam, logQuery, reasonBody, restartBody } from './api-schemas.js';
import { extendJob, type ExtendAnswer } from '../extend.js';
import { deadlineOf, DEFAULT_MAX_EXTEND_MS, extendedMs } from '../../domain/deadline.js';
import { reconcileSubmission } from '../reconcile.js';
import { completeUtf8Length } from '../utf8-boundary.js';
import { scenarioOfRecord } from '../../domain/scenario.js';

const scenarioField = (key: string | undefined) => (key ? { scenario: key } : {});
import type { RouteDeps } from './deps.js';
import { findReservation } from '../reservations.js';

/** The job's reservation, when its host is kept for a person now (the lab unreachable: none shown). */
const reservationOf = async (deps: RouteDeps, jobId: string) => {
  const found = await findReservation(deps, { jobId }).catch(() => undefined);
  return found ? { reservation: found.reservation } : {};
};

/** An extension's outcome as HTTP: the answer, or the status its refusal means. */
export function answerOf(outcome: ExtendAnswer): Extract<ExtendAnswer, { ok: true }> {
  if (outcome.ok) return outcome;
  const status = { 'not-found': 404, forbidden: 403, ended: 409, 'over-cap': 400 }[outcome.code];
  throw new HttpError(
    status,
    outcome.message,
    outcome.code === 'over-cap' ? [{ path: ['byMs'], message: outcome.message.replace(/^byMs: /, '') }] : undefined,
  );
}

export function jobRoutes(deps: RouteDeps): Router {
  const r = Router();
  const { store, gateway, tokens } = deps;

  r.get('/jobs/:id', authorize(tokens, 'read'), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const view = await liveSubmissionView(deps, submissionOfJob(id));
    const web = (workflowId: string) =>
      `${deps.temporalWebUrl}/namespaces/${encodeURIComponent(deps.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
    // A batch run (`<submission>.<n>`) is visible like a job: its progress, notes and batches out now.
    const run = view.batchRuns?.find((r) => r.id === id);
    if (run) {
      res.json({
        kind: 'batch-run',
        ...run,
        submissionId: view.id,
        temporalWebUrl: web(run.workflowId),
        submissionWebUrl: web(view.workflowId),
      });
      return;
    }
    const record = await store.getJob(id);
    // A batch of a batch run is not in the job table: its record says what it is.
    const job: JobView | undefined =
      view.jobs.find((j) => j.id === id) ??
      (record
        ? {
            id,
            name: record.name,
            setNumber: record.setNumber,
            attempt: record.attempt,
            workerClass: '',
            state: record.state,
            hostId: record.hostId,
            startedAt: record.startedAt ?? record.openedAt,
            ...(record.endedAt ? { endedAt: record.endedAt } : {}),
            ...(record.result ? { result: record.result } : {}),
            ...(record.progress ? { progress: record.progress } : {}),
          }
        : undefined);
    if (!job) throw new HttpError(404, `no job ${id}`);
    // The spec is read only when needed: for a running job's deadline, or a record without its scenario.
    const runningSince = job.state === 'running' ? record?.startedAt : undefined;
    const submission = runningSince || !record?.scenario ? (await store.getSubmission(view.id))?.submission : undefined;
    const timeoutMs = submission?.jobs.find((j) => j.name === job.name)?.timeoutMs;
    res.json({
      kind: 'job',
      ...job,
      submissionId: view.id,
      tests: record?.tests ?? [],
      artifacts: record?.artifacts ?? [],
      logBytes: record?.logBytes ?? 0,
      ...(record?.savedBytes ? { savedBytes: record.savedBytes } : {}),
      ...(record?.purgedAt ? { purgedAt: record.purgedAt } : {}),
      ...(record?.extensions ? { extensions: record.extensions, extendedMs: extendedMs(record.extensions) } : {}),
      ...(runningSince && timeoutMs !== undefined
        ? { timeoutMs, deadline: deadlineOf(runningSince, timeoutMs, record?.extensions) }
        : {}),
      ...scenarioField(record?.scenario ?? scenarioOfRecord(submission ?? { jobs: [] }, job.name)?.key),
      ...(await reservationOf(deps, id)),
      temporalWebUrl: web(jobWorkflowId(view.id, id, job) ?? view.workflowId),
      submissionWebUrl: web(view.workflowId),
    });
  });

  r.post(
    '/jobs/:id/cancel',
    authorize(tokens, 'submit'),
    audited(deps, 'cancel', auditTarget.job, reasonDetail),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const id = parseOr400(jobIdParam, req.params.id, 'job id');
      const body = parseOr400(reasonBody, req.body ?? {}, 'body');
      const submissionId = submissionOfJob(id);
      const record = await store.getSubmission(submissionId);
      if (!record) throw new HttpError(404, `no job ${id}`);
      const reason = `cancelled by ${principalOf(res).name}${body.reason ? `: ${body.reason}` : ''}`;
      if (!(await gateway.cancel(submissionId, { reason, jobId: id }))) {
        // Its submission's workflow is gone while the store says running: end it rather than refuse.
        const ended = record.final ? undefined : await reconcileSubmission(deps, record);
        if (!ended) throw new HttpError(409, `job ${id} has already finished`);
        res.status(200).json({ id, cancelling: false, result: ended.result });
        return;
      }
      res.status(202).json({ id, cancelling: true });
    },
  );

  r.post(
    '/jobs/:id/extend',
    authorize(tokens, 'submit'),
    audited(deps, 'extend', auditTarget.job),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const id = parseOr400(jobIdParam, req.params.id, 'job id');
      const { byMs } = parseOr400(extendBody, req.body ?? {}, 'body');
      res.json(
        answerOf(
          await extendJob({ store, maxExtendMs: deps.runConfig.maxExtendMs ?? DEFAULT_MAX_EXTEND_MS }, id, byMs, {
            principal: principalOf(res),
          }),
        ),
      );
    },
  );

  r.post(
    '/jobs/:id/restart',
    authorize(tokens, 'submit'),
    audited(deps, 'restart', auditTarget.job, (_req, answer) => ({ as: (answer as { id?: string } | undefined)?.id })),
    express.json({ limit: '16kb' }),
    async (req, res) => {
      const id = parseOr400(jobIdParam, req.params.id, 'job id');
      const { children } = parseOr400(restartBody, req.body ?? {}, 'body');
      const submissionId = submissionOfJob(id);
      const record = await store.getSubmission(submissionId);
      if (!record) throw new HttpError(404, `no job ${id}`);
      const view = await liveSubmissionView(deps, submissionId);
      const batchRun = view.batchRuns?.find((r) => r.id === id);
      if (batchRun) {
        // A finished batch run reruns only the tests that failed or were lost.
        if (batchRun.state !== 'done') throw new HttpError(409, `batch run ${id} has not finished; cancel it first`);
        const again = (await store.getBatchVerdicts(id))
          .filter((v) => v.verdict === 'failed' || v.verdict === 'lost')
          .map((v) => v.test);
        if (again.length === 0) throw new HttpError(409, `batch run ${id} has no failed or lost tests to rerun`);
        const spec = record.submission.batchRuns?.find((r) => r.name === batchRun.name);
        if (!spec) throw new HttpError(404, `no batch run ${id}`);
        const { testsCommand: _listed, ...rest } = spec;
        const submission = {
          name: `rerun of ${batchRun.name} (${again.length} failed or lost tests)`,
          jobs: [],
          batchRuns: [{ ...rest, tests: again }],
        };
        res.status(201).json(
          await acceptSubmission(deps, submission, principalOf(res).name, {
            of: { submissionId, jobId: id },
            lineage: { [batchRun.name]: id },
          }),
        );
        return;
      }
      const job = view.jobs.find((j) => j.id === id);
      if (!job) throw new HttpError(404, `no job ${id}`);
      if (!job.result) throw new HttpError(409, `job ${id} has not finished; cancel it first`);
      const again = selectRestart(record.submission, job.name, children);
      const latest = new Map(latestAttempts(view.jobs).map((j) => [j.name, j.id]));
      const lineage = Object.fromEntries(again.jobs.map((j) => [j.name, latest.get(j.name)!]));
      const history = restartHistory(
        view,
        again.jobs.map((j) => j.name),
      );
      res.status(201).json(
        await acceptSubmission(deps, again, principalOf(res).name, {
          of: { submissionId, jobId: id },
          lineage,
          history,
        }),
      );
    },
  );

  r.get('/jobs/:id/log', authorize(tokens, 'read', { queryToken: wantsFollow }), deps.streams, async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const query = parseOr400(logQuery, req.query, 'query');
    if (!(await store.getSubmission(submissionOfJob(id)))) throw new HttpError(404, `no job ${id}`);
    // A log is what a runner printed: never let a browser take it for a page.
    untrusted(res);
    const size = (await store.getJob(id))?.logBytes ?? 0;
    const end = Math.min(query.end ?? size, size);
    const start =
      query.tail !== undefined
        ? await lineStart(store, id, Math.max(0, end - query.tail), end)
        : Math.min(query.start ?? 0, end);
    if (wantsFollow(req)) {
      await followLog(store, id, res, start);
      return;
    }
    res.type('text/plain; charset=utf-8');
    res.set({ 'x-log-size': String(size), 'x-log-start': String(start), 'x-log-end': String(end) });
    if (end <= start) {
      res.end();
      return;
    }
    await sendRange(store.readLog(id, start), end - start, res);
  });

  r.get('/jobs/:id/verdicts', authorize(tokens, 'read'), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    res.json({ verdicts: await store.getBatchVerdicts(id) });
  });

  r.get('/jobs/:id/tests', authorize(tokens, 'read'), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const record = await store.getJob(id);
    res.json({ tests: record?.tests ?? [] });
  });

  r.get('/jobs/:id/artifacts', authorize(tokens, 'read'), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const record = await store.getJob(id);
    res.json({ artifacts: record?.artifacts ?? [] });
  });

  r.get('/jobs/:id/artifacts/*name', authorize(tokens, 'read'), async (req, res) => {
    const id = parseOr400(jobIdParam, req.params.id, 'job id');
    const name = artifactName(req.params);
    const stream = await store.openArtifact(id, name);
    if (!stream) throw new HttpError(404, `no artifact "${name}" for job ${id}`);
    // Runners choose names and bytes: only raster images and plain text are shown inline.
    artifactHeaders(res, name);
    stream.pipe(res);
  });

  return r;
}

/**
 * The workflow that runs a job: its chain workflow once a host is known, or for a batch
 * of a batch run (`<submission>.<run>.<batch>`) the batch run's workflow; undefined while
 * the job waits for a host (only the submission workflow knows it then).
 */
export function jobWorkflowId(
  submissionId: string,
  id: string,
  job: Pick<JobView, 'setNumber' | 'hostId'>,
): string | undefined {
  const parsed = parseJobId(id);
  if (parsed.kind === 'batch') return batchRunWorkflowId(submissionId, parsed.number);
  return job.hostId ? chainWorkflowId(submissionId, job.setNumber, job.hostId) : undefined;
}

export function artifactName(params: Record<string, unknown>): string {
  const raw = params.name;
  return Array.isArray(raw) ? raw.join('/') : String(raw);
}

/** Sends the first `bytes` bytes of a log stream (the store's reads go to the end of the log), then ends. */
async function sendRange(stream: Readable, bytes: number, res: Response): Promise<void> {
  let left = bytes;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const part = chunk.length <= left ? chunk : chunk.subarray(0, left);
      left -= part.length;
      if (!res.write(part)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      if (left <= 0 || res.destroyed) break;
    }
  } catch {
    // the log went away, or the client did
  } finally {
    stream.destroy();
    res.end();
  }
}

/** The first line start at or after `from` (within 4 kB, before `end`): a tail never begins in the middle of a line or a character. */
async function lineStart(store: ResultStore, id: string, from: number, end: number): Promise<number> {
  if (from === 0) return 0;
  const stream = store.readLog(id, from - 1);
  let seen = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const nl = chunk.subarray(0, Math.min(chunk.length, 4097 - seen)).indexOf(10);
      if (nl !== -1) return Math.min(end, from - 1 + seen + nl + 1);
      seen += chunk.length;
      if (seen > 4096) break;
    }
  } catch {
    // no log file yet
  } finally {
    stream.destroy();
  }
  return from;
}

/**
 * Streams a job's log as Server-Sent Events: first a `start` event (where it begins, and
 * the bytes stored so far), then everything stored from `start` on, then every new chunk
 * as it arrives, then an `end` event once the job has ended and all is sent. The store's
 * events say when to look again — from whichever API server the host uploads through —
 * and a slow re-check covers events lost while the events' connection was down.
 */
async function followLog(store: ResultStore, id: string, res: Response, start = 0): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(': following\n\n');
  res.write(`event: start\ndata: ${JSON.stringify({ start, size: (await store.getJob(id))?.logBytes ?? 0 })}\n\n`);
  let sent = start;
  // A character split between two chunks is sent whole, with the second; each part's id is
  // the byte offset it ends at, where a client that lost the stream starts again.
  let held = Buffer.alloc(0);
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  const sendText = (bytes: Buffer, endOffset: number) =>
    res.write(`event: log\nid: ${endOffset}\ndata: ${JSON.stringify(decoder.decode(bytes))}\n\n`);
  let sending = false;
  let again = false;
  let closed = false;
  const done = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearInterval(keepAlive);
    clearInterval(recheck);
    res.end();
  };
  const ended = async () => {
    const record = await store.getJob(id);
    if (record?.sealed) return record.logBytes <= sent;
    if (record) return false;
    const sub = await store.getSubmission(submissionOfJob(id));
    return sub?.final !== undefined;
  };
  const pump = async (): Promise<void> => {
    if (sending) {
      again = true;
      return;
    }
    sending = true;
    try {
      do {
        again = false;
        const record = await store.getJob(id);
        if (record && record.logBytes > sent) {
          for await (const chunk of store.readLog(id, sent) as AsyncIterable<Buffer>) {
            if (closed) return;
            sent += chunk.length;
            const bytes = held.length > 0 ? Buffer.concat([held, chunk]) : chunk;
            const cut = completeUtf8Length(bytes);
            held = Buffer.from(bytes.subarray(cut));
            if (cut > 0) sendText(bytes.subarray(0, cut), sent - held.length);
          }
        }
        if (await ended()) {
          if (held.length > 0) sendText(held, sent);
          held = Buffer.alloc(0);
          res.write(`event: end\ndata: ${JSON.stringify({ result: (await store.getJob(id))?.result ?? null })}\n\n`);
          done();
          return;
        }
      } while (again && !closed);
    } catch {
      // The store failed (down for a moment): the next event or re-check tries again.
    } finally {
      sending = false;
    }
  };
  const unsubscribe = store.subscribe((e) => {
    if (
      (e.kind === 'log' && e.id === id) ||
      (e.kind === 'job' && e.job.id === id) ||
      (e.kind === 'submission' && id.startsWith(`${e.id}.`)) ||
      e.kind === 'resync'
    )
      void pump();
  });
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  const recheck = setInterval(() => void pump(), 5_000);
  res.on('close', done);
  await pump();
}
