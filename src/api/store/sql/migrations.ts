/**
 * @module The result store's schema, as versioned migrations. `testbay setup` and every
 * API server at start run the ones not applied yet, in one transaction under an advisory
 * lock: two servers starting at once apply each migration once, and running them again
 * is a no-op. A migration, once released, is never edited: a change is a new one.
 */
import type { Db } from './db.js';
import { NOTIFY_MIGRATION } from './migration-notify.js';

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/** pg_advisory_xact_lock key: "tstb" in ASCII */
const MIGRATION_LOCK = 0x74737462;

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'result store',
    statements: [
      'CREATE EXTENSION IF NOT EXISTS pg_trgm',
      // One row per submission. `record` holds what was submitted (spec, plan, workflow
      // id, restart lineage), `final` the view written once when it ended; the columns
      // beside them are what the listing filters on.
      `CREATE TABLE submissions (
        id text PRIMARY KEY,
        created_at timestamptz NOT NULL,
        name text,
        record jsonb NOT NULL,
        final jsonb,
        result text,
        ended_at timestamptz,
        job_names text[] NOT NULL,
        search text NOT NULL,
        hosts text[] NOT NULL DEFAULT '{}',
        restarted_as text[] NOT NULL DEFAULT '{}',
        keep boolean NOT NULL DEFAULT false
      )`,
      'CREATE INDEX submissions_created ON submissions (created_at DESC, id DESC)',
      'CREATE INDEX submissions_running ON submissions (created_at DESC, id DESC) WHERE final IS NULL',
      'CREATE INDEX submissions_result ON submissions (result, created_at DESC, id DESC)',
      'CREATE INDEX submissions_hosts ON submissions USING gin (hosts)',
      'CREATE INDEX submissions_search ON submissions USING gin (search gin_trgm_ops)',
      'CREATE INDEX submissions_expiring ON submissions (ended_at) WHERE final IS NOT NULL AND NOT keep',
      // One row per job attempt (and per batch of a batch run), fenced by its lease.
      `CREATE TABLE jobs (
        id text PRIMARY KEY,
        submission_id text NOT NULL,
        name text NOT NULL,
        attempt integer NOT NULL,
        set_number integer NOT NULL,
        host_id text NOT NULL,
        lease_id text NOT NULL,
        lease_token text NOT NULL,
        state text NOT NULL,
        sealed boolean NOT NULL DEFAULT false,
        result jsonb,
        opened_at timestamptz NOT NULL,
        started_at timestamptz,
        ended_at timestamptz,
        last_upload_at timestamptz,
        progress jsonb,
        tests jsonb,
        saved_bytes bigint,
        log_bytes bigint NOT NULL DEFAULT 0,
        log_object text,
        purged_at timestamptz
      )`,
      'CREATE INDEX jobs_submission ON jobs (submission_id)',
      'CREATE INDEX jobs_open ON jobs (host_id) WHERE NOT sealed',
      'CREATE INDEX jobs_log_to_move ON jobs (id) WHERE sealed AND log_object IS NULL AND log_bytes > 0',
      'CREATE INDEX jobs_expiring ON jobs (ended_at) WHERE sealed AND purged_at IS NULL',
      // A running job's log, as the chunks hosts appended (at their offsets); moved into
      // one object once the job is sealed. Stored uncompressed: logs pass through on their
      // way to the object store, and pglz over every appended chunk cost more CPU than the
      // append itself (a 300 MB log: ~50 s of compression in PGlite).
      `CREATE TABLE log_chunks (
        job_id text NOT NULL,
        start_offset bigint NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (job_id, start_offset)
      )`,
      'ALTER TABLE log_chunks ALTER COLUMN data SET STORAGE EXTERNAL',
      `CREATE TABLE artifacts (
        job_id text NOT NULL,
        name text NOT NULL,
        size_bytes bigint NOT NULL,
        object_key text NOT NULL,
        PRIMARY KEY (job_id, name)
      )`,
      `CREATE TABLE batch_tests (
        submission_id text NOT NULL,
        run_name text NOT NULL,
        tests text[] NOT NULL,
        PRIMARY KEY (submission_id, run_name)
      )`,
      `CREATE TABLE batch_verdicts (
        run_job_id text NOT NULL,
        part_offset integer NOT NULL,
        submission_id text NOT NULL,
        verdicts jsonb NOT NULL,
        PRIMARY KEY (run_job_id, part_offset)
      )`,
      'CREATE INDEX batch_verdicts_submission ON batch_verdicts (submission_id)',
      `CREATE TABLE late_reports (
        run_job_id text NOT NULL,
        batch_id text NOT NULL,
        submission_id text NOT NULL,
        report jsonb NOT NULL,
        PRIMARY KEY (run_job_id, batch_id)
      )`,
      'CREATE INDEX late_reports_submission ON late_reports (submission_id)',
      // Objects to delete once `not_before` has passed: replaced and expired ones (now),
      // and uploads in progress (later: if the upload never finishes, its object goes).
      `CREATE TABLE object_deletions (
        key text PRIMARY KEY,
        not_before timestamptz NOT NULL
      )`,
      'CREATE INDEX object_deletions_due ON object_deletions (not_before)',
    ],
  },
  {
    version: 2,
    name: 'scenarios and review',
    statements: [
      // What a job tests across submissions (scenario.ts), set when its record opens; what
      // its host recorded at provisioning (test code commit and the git log up to it from
      // its mirror) and the host's capabilities then: what an investigation compares.
      'ALTER TABLE jobs ADD COLUMN scenario_key text',
      'ALTER TABLE jobs ADD COLUMN test_code jsonb',
      'ALTER TABLE jobs ADD COLUMN host_capabilities jsonb',
      'CREATE INDEX jobs_scenario ON jobs (scenario_key, opened_at DESC, id DESC) WHERE scenario_key IS NOT NULL',
      // Jobs recorded before: their specs had no scenarioKeys, and names and worker classes
      // need no encoding (NAME_PATTERN), so their key is `<name>@<workerClass>`.
      `UPDATE jobs j SET scenario_key = j.name || '@' || (jb->>'workerClass')
       FROM submissions s CROSS JOIN LATERAL jsonb_array_elements(s.record->'submission'->'jobs') jb
       WHERE s.id = j.submission_id AND jb->>'name' = j.name AND jb->>'workerClass' IS NOT NULL`,
      `UPDATE jobs j SET scenario_key = br->>'name' || '@' || (br->>'workerClass')
       FROM submissions s CROSS JOIN LATERAL jsonb_array_elements(COALESCE(s.record->'submission'->'batchRuns', '[]')) br
       WHERE s.id = j.submission_id AND j.scenario_key IS NULL AND br->>'name' = split_part(j.name, '#', 1) AND br->>'workerClass' IS NOT NULL`,
      "CREATE INDEX jobs_failed ON jobs (ended_at DESC, id DESC) WHERE sealed AND (result->>'kind') = 'failed'",
      // Comments on jobs and submissions; `submission_id` is what retention deletes by.
      `CREATE TABLE comments (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        target_id text NOT NULL,
        submission_id text NOT NULL,
        author text NOT NULL,
        body text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        carried_over_from text
      )`,
      'CREATE INDEX comments_target ON comments (target_id, id)',
      'CREATE INDEX comments_submission ON comments (submission_id)',
      `CREATE TABLE job_labels (
        job_id text NOT NULL,
        label text NOT NULL,
        submission_id text NOT NULL,
        added_by text NOT NULL,
        added_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (job_id, label)
      )`,
      'CREATE INDEX job_labels_submission ON job_labels (submission_id)',
    ],
  },
  NOTIFY_MIGRATION,
  {
    version: 4,
    name: 'deadline extensions of running jobs',
    // [{byMs, by, at}] in the order they came; the sum extends the job's timeoutMs.
    statements: ['ALTER TABLE jobs ADD COLUMN extensions jsonb'],
  },
];

/** Applies the migrations not applied yet; returns the versions it applied. */
export async function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.query(
      'CREATE TABLE IF NOT EXISTS testbay_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await tx.query<{ version: number }>('SELECT version FROM testbay_migrations')).map((r) => r.version),
    );
    const known = Math.max(0, ...migrations.map((m) => m.version));
    const newest = Math.max(0, ...done);
    if (newest > known)
      throw new SchemaTooNewError(
        `the result store's schema is at version ${newest}, newer than this Testbay knows (${known}): run the newer Testbay, or restore a database of this version`,
      );
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      for (const statement of m.statements) await tx.query(statement);
      await tx.query('INSERT INTO testbay_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}

export class SchemaTooNewError extends Error {}
