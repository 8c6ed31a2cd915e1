/**
 * bench/review: the review queries over a big history on the embedded engine (PGlite):
 * 200,000 job records in 2,000 scenarios (one in ten failed), 5,000 comments. Timed, p50
 * and p99 over 40 calls each: a scenario's history (20 runs), its last good run before a
 * job, the previous failure (carry-over), the review list (50) and the submissions of a
 * scenario. Goal: p50 < 50 ms. The tables are analysed first (BENCH_REVIEW_ANALYZE=0: not),
 * as PostgreSQL's autovacuum would have done; the embedded PGlite has no autovacuum.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openResultStore } from '../src/api/store/open-store.js';
import { loadConfig } from '../src/config.js';
import { percentile, round, writeResult } from './harness.js';

const JOBS = Number(process.env.BENCH_REVIEW_JOBS ?? 200_000);
const SCENARIOS = 2_000;

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-bench-review-'));
  const config = loadConfig({ TESTBAY_DATA_DIR: dir });
  const store = await openResultStore(config, undefined, { sweepMs: 0 });
  const started = Date.now();
  await store.db.query(
    `INSERT INTO jobs (id, submission_id, name, attempt, set_number, host_id, lease_id, lease_token, state, sealed, result, opened_at, ended_at, scenario_key)
     SELECT 's' || lpad((i / 5)::text, 8, '0') || '.' || (i % 5 + 1), 's' || lpad((i / 5)::text, 8, '0'), 'job' || (i % ${SCENARIOS}), 1, 1, 'h' || (i % 50), 'l', 't', 'done', true,
       CASE WHEN i % 10 = 0 THEN '{"kind":"failed","reason":"x"}'::jsonb ELSE '{"kind":"passed"}'::jsonb END,
       now() - make_interval(secs => $1::int - i), now() - make_interval(secs => $1::int - i - 1), 'job' || (i % ${SCENARIOS}) || '@local'
     FROM generate_series(1, $1::int) AS i`,
    [JOBS],
  );
  await store.db.query(
    `INSERT INTO comments (target_id, submission_id, author, body) SELECT id, submission_id, 'bench', 'bsc#' || id FROM jobs WHERE result->>'kind' = 'failed' AND random() < 0.25 LIMIT 5000`,
  );
  await store.db.query(
    `INSERT INTO submissions (id, created_at, record, final, result, ended_at, job_names, search)
     SELECT DISTINCT ON (submission_id) submission_id, opened_at, '{}'::jsonb, '{}'::jsonb, 'passed', ended_at, '{}'::text[], submission_id FROM jobs ORDER BY submission_id`,
  );
  const seedMs = Date.now() - started;
  // PostgreSQL's autovacuum would have analysed the tables by now; PGlite has none.
  if (process.env.BENCH_REVIEW_ANALYZE !== '0') await store.db.query('ANALYZE');
  const time = async (label: string, fn: (i: number) => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < 40; i++) {
      const t = performance.now();
      await fn(i);
      times.push(performance.now() - t);
    }
    return [label, { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)) }] as const;
  };
  const key = (i: number) => `job${(i * 37) % SCENARIOS}@local`;
  const lastJob = async (i: number) => (await store.review.scenarioRuns(key(i), { limit: 1 }))[0]!.jobId;
  const figures = Object.fromEntries([
    await time('history (20 runs)', (i) => store.review.scenarioRuns(key(i), { limit: 20 })),
    await time('last good before a job', async (i) =>
      store.review.scenarioRuns(key(i), { limit: 1, result: 'passed', before: await lastJob(i) }),
    ),
    await time('previous failure before a job', async (i) =>
      store.review.scenarioRuns(key(i), { limit: 1, result: 'failed', before: await lastJob(i) }),
    ),
    await time('review list (50)', () => store.review.needsReview(50)),
    await time('submissions by scenario', (i) => store.listSubmissions({ limit: 50, scenario: key(i) })),
  ]);
  await store.close();
  await fs.rm(dir, { recursive: true, force: true });
  const file = await writeResult('review', {
    engine: 'pglite',
    jobs: JOBS,
    scenarios: SCENARIOS,
    seedMs,
    analyzed: process.env.BENCH_REVIEW_ANALYZE !== '0',
    ms: figures,
  });
  process.stdout.write(`${JSON.stringify({ jobs: JOBS, seedMs, ms: figures }, null, 2)}\n${file}\n`);
}

await main();
