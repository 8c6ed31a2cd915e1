/**
 * @module Extending a running job's deadline: the one command behind `POST
 * /api/v1/jobs/:id/extend` (a person: the job's submitter or an operator) and the runner's
 * status line `{"extendMs": …}` (through its host). The extension is kept with the job's
 * record, under its row lock, so it survives an API restart; the host reads it back while
 * the runner runs (GET /jobs/:id/deadline) and moves its timer.
 */
import { decideExtension, extendedMs, type JobExtension } from '../domain/deadline.js';
import { submissionOfJob } from '../domain/ids.js';
import type { Principal } from './auth.js';
import type { ResultStore } from './store/result-store.js';

export type ExtendAnswer =
  | { ok: true; jobId: string; extendedMs: number; extensions: JobExtension[] }
  | { ok: false; code: 'not-found' | 'forbidden' | 'ended' | 'over-cap'; message: string };

export interface ExtendDeps {
  store: ResultStore;
  /** TESTBAY_MAX_EXTEND_MS */
  maxExtendMs: number;
}

/** Who asks: a person's token, or the job's own runner (its host, holding the job's lease). */
export type Extender = { principal: Principal } | { runner: true };

export async function extendJob(deps: ExtendDeps, jobId: string, byMs: number, who: Extender): Promise<ExtendAnswer> {
  if ('principal' in who && who.principal.role !== 'operate') {
    const submission = await deps.store.getSubmission(submissionOfJob(jobId));
    if (!submission) return { ok: false, code: 'not-found', message: `no job ${jobId}` };
    if (submission.submittedBy !== who.principal.name) {
      return {
        ok: false,
        code: 'forbidden',
        message: `job ${jobId} was submitted by ${submission.submittedBy ?? 'another token'}: only its submitter or an operate token may extend it`,
      };
    }
  }
  const extension: JobExtension = {
    byMs,
    by: 'principal' in who ? who.principal.name : 'runner',
    at: new Date().toISOString(),
  };
  const current = await deps.store.getJob(jobId);
  if (!current)
    return { ok: false, code: 'not-found', message: `no job ${jobId} (a job can be extended once it has started)` };
  const { decision, job } = await deps.store.extendJob(jobId, extension, (j) =>
    decideExtension(
      {
        id: j.id,
        ended: j.sealed,
        ...(j.result ? { result: j.result.kind } : {}),
        ...(j.extensions ? { extensions: j.extensions } : {}),
      },
      byMs,
      deps.maxExtendMs,
    ),
  );
  if (!decision.ok) return { ok: false, code: decision.code, message: decision.message };
  return { ok: true, jobId, extendedMs: extendedMs(job.extensions), extensions: job.extensions ?? [] };
}
