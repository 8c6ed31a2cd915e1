/**
 * bench/store: the result store with a big history, on the embedded engine (PGlite) and
 * on PostgreSQL (a throwaway cluster of Debian's PostgreSQL 15, fsync off as in the
 * tests: the figures are the store's work, not the disk's).
 *
 * - API start-up (`testbay server` until it listens: open the store, migrations check,
 *   LISTEN) with 200,000 submissions and 1,000,000 job records seeded, against an empty
 *   store: goal < 2 s, independent of history size;
 * - the submissions listing (GET /submissions, 50 a page) filtered by state, result,
 *   host and text, p50 and p99 over 40 requests each: goal p50 < 50 ms;
 * - log appends per second from 200 concurrent writers (each appending 200-byte chunks
 *   to its own running job, through the store, as the upload route does): goal ≥ 2,000/s
 *   on PostgreSQL.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../src/api/server.js';
import { openResultStore } from '../src/api/store/open-store.js';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { PROJECT_ROOT } from '../src/temporal/binary.js';
import { startPostgres } from '../test/helpers/store-servers.js';
import { percentile, round, writeResult } from './harness.js';

const SUBMISSIONS = Number(process.env.BENCH_STORE_SUBMISSIONS ?? 200_000);
const JOBS_PER_SUBMISSION = 5;
const WRITERS = 200;
const APPENDS_PER_WRITER = Number(process.env.BENCH_STORE_APPENDS ?? 40);
const TOKEN = 'b'.repeat(40);
const quiet = createLogger('bench', 'error', () => undefined);

async function seed(config: Config): Promise<number> {
  const store = await openResultStore(config, undefined, { sweepMs: 0 });
  const started = Date.now();
  const { db } = store;
  // In slices: one statement of a million rows would hold PGlite's memory at once.
  const slice = 20_000;
  for (let from = 1; from <= SUBMISSIONS; from += slice) {
    const to = Math.min(SUBMISSIONS, from + slice - 1);
    await db.query(
      `INSERT INTO submissions (id, created_at, name, record, final, result, ended_at, job_names, search, hosts)
       SELECT 'bench' || lpad(i::text, 9, '0'), now() - (i || ' seconds')::interval, 'nightly-' || (i % 1000),
         '{"submission":{"jobs":[]},"plan":{"jobs":[],"recipes":[],"recipeSets":[]},"workflowId":"sub-x"}'::jsonb,
         CASE WHEN i % 100 = 0 THEN NULL ELSE '{"id":"x","state":"done","jobs":[],"recipeSets":[]}'::jsonb END,
         CASE WHEN i % 100 = 0 THEN NULL ELSE (ARRAY['passed','passed','failed','aborted','cancelled'])[1 + i % 5] END,
         CASE WHEN i % 100 = 0 THEN NULL ELSE now() - (i || ' seconds')::interval + interval '10 minutes' END,
         ARRAY['install', 'desktop-' || (i % 50)],
         'bench' || lpad(i::text, 9, '0') || E'\\nnightly-' || (i % 1000) || E'\\ninstall\\ndesktop-' || (i % 50),
         ARRAY['h' || (i % 200), 'h' || ((i + 7) % 200)]
       FROM generate_series($1::int, $2::int) AS i`,
      [from, to],
    );
    await db.query(
      `INSERT INTO jobs (id, submission_id, name, attempt, set_number, host_id, lease_id, lease_token, state, sealed, result, opened_at, ended_at, log_bytes)
       SELECT s.id || '.' || k, s.id, 'job' || k, 1, k, s.hosts[1], 'lease-' || s.id || k, 'token-' || s.id || k, CASE WHEN s.final IS NULL THEN 'running' ELSE 'done' END,
         s.final IS NOT NULL, CASE WHEN s.final IS NULL THEN NULL ELSE '{"kind":"passed"}'::jsonb END, s.created_at, s.ended_at, 0
       FROM submissions s, generate_series(1, ${JOBS_PER_SUBMISSION}) AS k
       WHERE s.id BETWEEN 'bench' || lpad($1::text, 9, '0') AND 'bench' || lpad($2::text, 9, '0')`,
      [from, to],
    );
  }
  await db.query('ANALYZE');
  const ms = Date.now() - started;
  await store.close();
  return ms;
}

/** `testbay server` start-up until it listens, median of 3. */
async function startup(config: Config): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const server = await startServer({ ...config, api: { ...config.api, port: 0 } }, quiet, 0);
    times.push(performance.now() - t);
    await server.close();
  }
  return round(percentile(times, 50), 0);
}

async function listing(config: Config): Promise<Record<string, { p50: number; p99: number; rows: number }>> {
  const server = await startServer({ ...config, api: { ...config.api, port: 0 } }, quiet, 0);
  const queries: Record<string, string> = {
    'newest (no filter)': '',
    'state=running': 'state=running',
    'result=failed': 'result=failed',
    'host=h17': 'host=h17',
    'text q=desktop-7': 'q=desktop-7',
    'text q=nightly-999': 'q=nightly-999',
    'all four': 'state=done&result=failed&host=h3&q=nightly-3',
  };
  const out: Record<string, { p50: number; p99: number; rows: number }> = {};
  try {
    for (const [label, q] of Object.entries(queries)) {
      const times: number[] = [];
      let rows = 0;
      for (let i = 0; i < 42; i++) {
        const t = performance.now();
        const res = await fetch(`${server.url}/api/v1/submissions?limit=50&${q}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        const body = (await res.json()) as { submissions: unknown[] };
        if (i >= 2) times.push(performance.now() - t); // two warm-ups
        rows = body.submissions.length;
      }
      out[label] = { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), rows };
    }
  } finally {
    await server.close();
  }
  return out;
}

async function appends(config: Config): Promise<{ perSecond: number; appends: number; ms: number }> {
  const store = await openResultStore(config, undefined, { sweepMs: 0 });
  try {
    const sub = `append${Date.now().toString(36)}`;
    const jobs = await Promise.all(
      Array.from({ length: WRITERS }, (_, i) =>
        store.openJob({
          jobId: `${sub}.${i + 1}`,
          submissionId: sub,
          name: `w${i}`,
          attempt: 1,
          setNumber: 1,
          hostId: `h${i % 50}`,
          leaseId: `lease-id-${i}`,
          leaseToken: `lease-${i}`,
        }),
      ),
    );
    const chunk = Buffer.from(`${'x'.repeat(199)}\n`);
    const t = performance.now();
    await Promise.all(
      jobs.map(async (job, i) => {
        let offset = 0;
        for (let k = 0; k < APPENDS_PER_WRITER; k++)
          offset = (await store.appendLog(job.id, `lease-${i}`, offset, chunk)).size;
      }),
    );
    const ms = performance.now() - t;
    const total = WRITERS * APPENDS_PER_WRITER;
    return { perSecond: round((total / ms) * 1000, 0), appends: total, ms: round(ms, 0) };
  } finally {
    await store.close();
  }
}

async function measure(engine: 'pglite' | 'postgres', env: Record<string, string>) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `testbay-bench-store-${engine}-`));
  try {
    const config = (extra: Record<string, string>) =>
      loadConfig({
        TESTBAY_DATA_DIR: dir,
        TESTBAY_TOKENS: JSON.stringify([{ token: TOKEN, role: 'submit', name: 'bench' }]),
        TESTBAY_LOG_LEVEL: 'error',
        ...env,
        ...extra,
      });
    const empty = config({});
    // Created and migrated once, so that start-up measures a store that exists.
    await (await openResultStore(empty, undefined, { sweepMs: 0 })).close();
    const emptyStartupMs = await startup(empty);
    const seedMs = await seed(empty);
    const startupMs = await startup(empty);
    const list = await listing(empty);
    const log = await appends(empty);
    const result = { seedMs, startupMs, emptyStartupMs, listing: list, appends: log };
    process.stderr.write(`${engine}: ${JSON.stringify(result)}\n`);
    return result;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const outputDir = path.join(PROJECT_ROOT, 'test-output', 'bench-store');
  await fs.mkdir(outputDir, { recursive: true });
  const postgres = await startPostgres(path.join(outputDir, 'postgres.log'));
  try {
    const pglite = await measure('pglite', {});
    const pgUrl = await postgres.createDatabase('bench');
    const pg = await measure('postgres', { TESTBAY_DATABASE_URL: pgUrl, TESTBAY_DATABASE_POOL: '20' });
    const p50s = (r: typeof pg) => Object.values(r.listing).map((l) => l.p50);
    const goals = {
      startupUnder2s: pglite.startupMs < 2000 && pg.startupMs < 2000,
      listingP50Under50ms: [...p50s(pglite), ...p50s(pg)].every((p) => p < 50),
      appendsOnPostgresAtLeast2000: pg.appends.perSecond >= 2000,
    };
    const file = await writeResult('store', {
      submissions: SUBMISSIONS,
      jobs: SUBMISSIONS * JOBS_PER_SUBMISSION,
      writers: WRITERS,
      pglite,
      postgres: pg,
      goals,
      goalMet: Object.values(goals).every(Boolean),
    });
    process.stdout.write(`${JSON.stringify({ pglite, postgres: pg, goals }, null, 2)}\nwritten to ${file}\n`);
  } finally {
    await postgres.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench/store failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
