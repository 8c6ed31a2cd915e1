/**
 * @module The review store in SQL (review-store.ts): scenario runs from the job records'
 * `scenario_key` (and, for one test of a batch run, from the batch runs' verdicts),
 * comments and labels in their own tables. One set of queries for PostgreSQL and PGlite.
 */
import type { JobResult } from '../../domain/outcome.js';
import { submissionOfJob } from '../../domain/ids.js';
import { parseScenarioKey } from '../../domain/scenario.js';
import { StoreError, type RecordedJobState } from './result-store.js';
import type { Comment, Label, ReviewItem, ReviewStore, ScenarioRun, ScenarioRunQuery } from './review-store.js';
import type { Db } from './sql/db.js';

interface RunRow {
  id: string;
  submission_id: string;
  name: string;
  attempt: number;
  host_id: string | null;
  state: RecordedJobState;
  result: JobResult | null;
  opened_at: string;
  started_at: string | null;
  ended_at: string | null;
  commit: string | null;
}

interface CommentRow {
  id: number;
  target_id: string;
  submission_id: string;
  author: string;
  body: string;
  created_at: string;
  carried_over_from: string | null;
}

const commentOf = (r: CommentRow): Comment => ({
  id: Number(r.id),
  targetId: r.target_id,
  submissionId: r.submission_id,
  author: r.author,
  text: r.body,
  createdAt: r.created_at,
  ...(r.carried_over_from ? { carriedOverFrom: r.carried_over_from } : {}),
});

const runOf = (r: RunRow): ScenarioRun => ({
  jobId: r.id,
  submissionId: r.submission_id,
  name: r.name,
  attempt: r.attempt,
  state: r.state,
  openedAt: r.opened_at,
  ...(r.host_id ? { hostId: r.host_id } : {}),
  ...(r.result ? { result: r.result } : {}),
  ...(r.started_at ? { startedAt: r.started_at } : {}),
  ...(r.ended_at ? { endedAt: r.ended_at } : {}),
  ...(r.commit ? { testsCommit: r.commit } : {}),
});

/** A batch run's verdict for one test, as a result. */
const VERDICT_RESULT = `CASE v.value->>'verdict' WHEN 'passed' THEN 'passed' WHEN 'flaky' THEN 'passed' WHEN 'failed' THEN 'failed'
  WHEN 'skipped' THEN 'skipped' WHEN 'cancelled' THEN 'cancelled' ELSE 'aborted' END`;

export class SqlReviewStore implements ReviewStore {
  constructor(private readonly db: Db) {}

  async scenarioRuns(key: string, q: ScenarioRunQuery): Promise<ScenarioRun[]> {
    const parsed = parseScenarioKey(key);
    if (!parsed) return [];
    if (parsed.testId !== undefined) return this.testRuns(key.slice(0, key.indexOf('/')), parsed.testId, q);
    const params: unknown[] = [key];
    const param = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const where = ['j.scenario_key = $1'];
    if (q.result) where.push(`j.sealed AND j.result->>'kind' = ${param(q.result)}`);
    if (q.before) where.push(`(j.opened_at, j.id) < (SELECT opened_at, id FROM jobs WHERE id = ${param(q.before)})`);
    if (q.after) where.push(`(j.opened_at, j.id) > (SELECT opened_at, id FROM jobs WHERE id = ${param(q.after)})`);
    const order = q.oldestFirst ? 'j.opened_at, j.id' : 'j.opened_at DESC, j.id DESC';
    const rows = await this.db.query<RunRow>(
      `SELECT j.id, j.submission_id, j.name, j.attempt, j.host_id, j.state, j.result, j.opened_at, j.started_at, j.ended_at, j.test_code->>'commit' AS commit
       FROM jobs j WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ${param(q.limit)}`,
      params,
    );
    return rows.map(runOf);
  }

  /** One test's runs: its verdicts in the batch runs of the run's scenario (a batch run's record id is `<submission>.<n>`). */
  private async testRuns(runKey: string, testId: string, q: ScenarioRunQuery): Promise<ScenarioRun[]> {
    const params: unknown[] = [runKey, testId];
    const param = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const where = [`v.value->>'test' = $2`];
    if (q.result) where.push(`${VERDICT_RESULT} = ${param(q.result)}`);
    if (q.before)
      where.push(
        `(s.created_at, bv.run_job_id) < (SELECT created_at, ${param(q.before)}::text FROM submissions WHERE id = split_part(${param(q.before)}, '.', 1))`,
      );
    if (q.after)
      where.push(
        `(s.created_at, bv.run_job_id) > (SELECT created_at, ${param(q.after)}::text FROM submissions WHERE id = split_part(${param(q.after)}, '.', 1))`,
      );
    const order = q.oldestFirst ? 's.created_at, bv.run_job_id' : 's.created_at DESC, bv.run_job_id DESC';
    const rows = await this.db.query<{
      run_job_id: string;
      submission_id: string;
      name: string;
      verdict: { verdict: string; reason?: string; attempts: number; history?: { hostId: string }[] };
      kind: string;
      created_at: string;
      ended_at: string | null;
    }>(
      `SELECT bv.run_job_id, bv.submission_id, v.value AS verdict, ${VERDICT_RESULT} AS kind, s.created_at, s.ended_at,
         (SELECT split_part(name, '#', 1) FROM jobs WHERE scenario_key = $1 AND submission_id = bv.submission_id LIMIT 1) AS name
       FROM batch_verdicts bv JOIN submissions s ON s.id = bv.submission_id CROSS JOIN LATERAL jsonb_array_elements(bv.verdicts) v
       WHERE bv.submission_id IN (SELECT submission_id FROM jobs WHERE scenario_key = $1) AND ${where.join(' AND ')}
       ORDER BY ${order} LIMIT ${param(q.limit)}`,
      params,
    );
    return rows.map((r) => {
      const host = r.verdict.history?.at(-1)?.hostId;
      const reason = r.verdict.reason ?? `verdict ${r.verdict.verdict}`;
      const result = (
        r.kind === 'passed'
          ? { kind: 'passed' }
          : r.kind === 'aborted'
            ? { kind: 'aborted', cause: 'lost', reason }
            : { kind: r.kind, reason }
      ) as JobResult;
      return {
        jobId: r.run_job_id,
        submissionId: r.submission_id,
        name: `${r.name}/${testId}`,
        attempt: r.verdict.attempts,
        state: 'done' as const,
        result,
        openedAt: r.created_at,
        ...(host ? { hostId: host } : {}),
        ...(r.ended_at ? { endedAt: r.ended_at } : {}),
      };
    });
  }

  async addComment(input: {
    targetId: string;
    author: string;
    text: string;
    carriedOverFrom?: string;
  }): Promise<Comment> {
    const submissionId = submissionOfJob(input.targetId);
    const [row] = await this.db.query<CommentRow>(
      `INSERT INTO comments (target_id, submission_id, author, body, carried_over_from)
       SELECT $1, $2, $3, $4, $5 WHERE EXISTS (
         SELECT 1 FROM submissions s WHERE s.id = $2 AND ($1 = $2 OR EXISTS (SELECT 1 FROM jobs WHERE id = $1)
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(s.final->'jobs', '[]')) fj WHERE fj->>'id' = $1)))
       RETURNING id, target_id, submission_id, author, body, created_at, carried_over_from`,
      [input.targetId, submissionId, input.author, input.text, input.carriedOverFrom ?? null],
    );
    if (!row) throw new StoreError('not-found', `no job or submission ${input.targetId}`);
    return commentOf(row);
  }

  async listComments(targetId: string): Promise<Comment[]> {
    const rows = await this.db.query<CommentRow>(
      'SELECT id, target_id, submission_id, author, body, created_at, carried_over_from FROM comments WHERE target_id = $1 ORDER BY id',
      [targetId],
    );
    return rows.map(commentOf);
  }

  async setLabel(jobId: string, label: string, by: string, on: boolean): Promise<Label[]> {
    const submissionId = submissionOfJob(jobId);
    if (on) {
      const rows = await this.db.query(
        `INSERT INTO job_labels (job_id, label, submission_id, added_by)
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM submissions s WHERE s.id = $3 AND (EXISTS (SELECT 1 FROM jobs WHERE id = $1)
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(s.final->'jobs', '[]')) fj WHERE fj->>'id' = $1)))
         ON CONFLICT (job_id, label) DO UPDATE SET label = excluded.label RETURNING job_id`,
        [jobId, label, submissionId, by],
      );
      if (rows.length === 0) throw new StoreError('not-found', `no job ${jobId}`);
    } else {
      await this.db.query('DELETE FROM job_labels WHERE job_id = $1 AND label = $2', [jobId, label]);
    }
    return this.listLabels(jobId);
  }

  async listLabels(jobId: string): Promise<Label[]> {
    const rows = await this.db.query<{ label: string; added_by: string; added_at: string }>(
      'SELECT label, added_by, added_at FROM job_labels WHERE job_id = $1 ORDER BY label COLLATE "C"',
      [jobId],
    );
    return rows.map((r) => ({ label: r.label, addedBy: r.added_by, addedAt: r.added_at }));
  }

  async recordHostCapabilities(jobId: string, capabilities: Record<string, string>): Promise<void> {
    await this.db.query('UPDATE jobs SET host_capabilities = $2::jsonb WHERE id = $1 AND host_capabilities IS NULL', [
      jobId,
      JSON.stringify(capabilities),
    ]);
  }

  async needsReview(limit: number): Promise<ReviewItem[]> {
    const rows = await this.db.query<{
      id: string;
      submission_id: string;
      name: string;
      host_id: string;
      ended_at: string | null;
      result: JobResult;
      scenario_key: string | null;
      labels: string[];
    }>(
      `SELECT j.id, j.submission_id, j.name, j.host_id, j.ended_at, j.result, j.scenario_key,
         ARRAY(SELECT label FROM job_labels l WHERE l.job_id = j.id ORDER BY label COLLATE "C") AS labels
       FROM jobs j WHERE j.sealed AND (j.result->>'kind') = 'failed' AND j.id NOT LIKE '%.%.%' AND NOT EXISTS (SELECT 1 FROM comments c WHERE c.target_id = j.id)
       ORDER BY j.ended_at DESC, j.id DESC LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      jobId: r.id,
      submissionId: r.submission_id,
      name: r.name,
      hostId: r.host_id,
      result: r.result,
      labels: r.labels,
      ...(r.ended_at ? { endedAt: r.ended_at } : {}),
      ...(r.scenario_key ? { scenario: r.scenario_key } : {}),
    }));
  }
}
