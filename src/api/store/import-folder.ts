/**
 * @module `testbay setup --import-folder DIR`: moves the previous version's folder store
 * (`<data dir>/results`: `submissions/<id>.json`, `submissions/<id>.batch-<run>.tests.json`,
 * `jobs/<job id>/{job.json,log.txt,artifacts/…,verdicts/*.json,late/*.json}`) into the
 * database and the object store, so a lab that ran it keeps its history. Idempotent:
 * what is imported already is skipped, so a second run (or one after an interruption)
 * adds only the rest. Ids and names that do not match their patterns are skipped and
 * reported, never written.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { checkArtifactName } from '../../domain/artifact-name.js';
import type { LateReport } from '../../domain/batch-ledger.js';
import { JOB_ID_PATTERN, SUBMISSION_ID_PATTERN, submissionOfJob } from '../../domain/ids.js';
import { NAME_PATTERN } from '../../domain/spec.js';
import type { Logger } from '../../logger.js';
import type { BatchVerdict, JobRecord, SubmissionRecord } from './result-store.js';
import { hostsOfView, logKey, submissionColumns, type SqlResultStore } from './sql-store.js';

export interface ImportReport {
  submissions: number;
  jobs: number;
  logs: number;
  artifacts: number;
  verdictParts: number;
  lateReports: number;
  batchTestLists: number;
  /** what was already in the store */
  present: number;
  /** files that are not records of the folder store, or ids that do not match their patterns */
  skipped: string[];
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
  }
}

const listDir = (dir: string) => fs.readdir(dir).catch(() => [] as string[]);

/** Every file below `dir`, as `/`-separated paths relative to it. */
async function filesBelow(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await filesBelow(path.join(dir, entry.name), rel)));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

export async function importFolder(store: SqlResultStore, dir: string, log?: Logger): Promise<ImportReport> {
  const root = path.resolve(dir);
  const subsDir = path.join(root, 'submissions');
  const jobsDir = path.join(root, 'jobs');
  if (
    !(await fs.stat(subsDir).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  ) {
    throw new Error(`${root} is not a folder store: it has no submissions/ folder (give the old <data dir>/results)`);
  }
  const report: ImportReport = {
    submissions: 0,
    jobs: 0,
    logs: 0,
    artifacts: 0,
    verdictParts: 0,
    lateReports: 0,
    batchTestLists: 0,
    present: 0,
    skipped: [],
  };
  const { db, objects } = store;

  // Job folders by submission: `<submission>.<n>` and `<submission>.<run>.<batch>`.
  const jobDirs = new Map<string, string[]>();
  for (const name of await listDir(jobsDir)) {
    if (!JOB_ID_PATTERN.test(name)) {
      report.skipped.push(`jobs/${name}`);
      continue;
    }
    const sub = submissionOfJob(name);
    jobDirs.set(sub, [...(jobDirs.get(sub) ?? []), name]);
  }

  const files = (await listDir(subsDir)).sort();
  for (const file of files) {
    if (/^[a-z0-9]+\.batch-.+\.tests\.json$/.test(file)) continue; // with their submission, below
    const id = file.endsWith('.json') ? file.slice(0, -'.json'.length) : '';
    if (!SUBMISSION_ID_PATTERN.test(id)) {
      report.skipped.push(`submissions/${file}`);
      continue;
    }
    const record = await readJson<SubmissionRecord>(path.join(subsDir, file));
    if (!record || record.id !== id) {
      report.skipped.push(`submissions/${file}`);
      continue;
    }
    const jobs: JobRecord[] = [];
    const runDirs: string[] = [];
    for (const name of jobDirs.get(id) ?? []) {
      const job = await readJson<JobRecord>(path.join(jobsDir, name, 'job.json'));
      if (job && job.id === name) jobs.push(job);
      else runDirs.push(name); // a batch run's folder: verdicts and late reports only
    }
    const c = submissionColumns(record);
    const hosts = [
      ...new Set([...jobs.map((j) => j.hostId), ...(record.final ? hostsOfView(record.final) : [])]),
    ].sort();
    const inserted = await db.query(
      `INSERT INTO submissions (id, created_at, name, record, final, result, ended_at, job_names, search, hosts, restarted_as, keep)
       VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8::text[], $9, $10::text[], $11::text[], $12) ON CONFLICT (id) DO NOTHING RETURNING id`,
      [
        id,
        record.createdAt,
        record.name ?? null,
        c.record,
        record.final ? JSON.stringify(record.final) : null,
        record.final?.result ?? null,
        record.final ? (record.final.endedAt ?? record.createdAt) : null,
        c.jobNames,
        c.search,
        hosts,
        record.restartedAs ?? [],
        record.keep === true,
      ],
    );
    if (inserted.length === 0) report.present++;
    else report.submissions++;

    for (const listed of files.filter((f) => f.startsWith(`${id}.batch-`) && f.endsWith('.tests.json'))) {
      const runName = listed.slice(`${id}.batch-`.length, -'.tests.json'.length);
      const tests = NAME_PATTERN.test(runName) ? await readJson<string[]>(path.join(subsDir, listed)) : undefined;
      if (!Array.isArray(tests)) {
        report.skipped.push(`submissions/${listed}`);
        continue;
      }
      const rows = await db.query(
        'INSERT INTO batch_tests (submission_id, run_name, tests) VALUES ($1, $2, $3::text[]) ON CONFLICT DO NOTHING RETURNING 1',
        [id, runName, tests],
      );
      report.batchTestLists += rows.length;
    }

    for (const job of jobs) await importJob(job);
    for (const name of [...runDirs, ...jobs.map((j) => j.id)]) await importVerdicts(name, id);
  }
  log?.info('import of the folder store done', { ...report, skipped: report.skipped.length });
  return report;

  async function importJob(job: JobRecord): Promise<void> {
    if ((await db.query('SELECT 1 FROM jobs WHERE id = $1', [job.id])).length > 0) {
      report.present++;
      return;
    }
    const jobDir = path.join(jobsDir, job.id);
    // Objects first, under keys the same import always picks: an interrupted import
    // writes them again, and the record (below, in one transaction) names them once.
    const logFile = path.join(jobDir, 'log.txt');
    const logSize = await fs.stat(logFile).then(
      (s) => s.size,
      () => 0,
    );
    const logObject = logSize > 0 && job.sealed ? logKey(job.id) : null;
    if (logObject) await objects.put(logObject, createReadStream(logFile));
    const chunk = logSize > 0 && !job.sealed ? await fs.readFile(logFile) : null;
    const artifacts: { name: string; key: string; size: number }[] = [];
    const artifactsDir = path.join(jobDir, 'artifacts');
    for (const name of await filesBelow(artifactsDir)) {
      if (name.endsWith('.part') || !checkArtifactName(name).ok) {
        report.skipped.push(`jobs/${job.id}/artifacts/${name}`);
        continue;
      }
      const key = `jobs/${job.id}/artifacts/imported-${createHash('sha256').update(name).digest('hex').slice(0, 24)}`;
      artifacts.push({
        name,
        key,
        size: await objects.put(key, createReadStream(path.join(artifactsDir, ...name.split('/')))),
      });
    }
    await db.transaction(async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO jobs (id, submission_id, name, attempt, set_number, host_id, lease_token, state, sealed, result, opened_at, started_at, ended_at,
           last_upload_at, progress, tests, saved_bytes, log_bytes, log_object, lease_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, $15::jsonb, $16::jsonb, $17, $18, $19, $20) ON CONFLICT (id) DO NOTHING RETURNING id`,
        [
          job.id,
          job.submissionId,
          job.name,
          job.attempt,
          job.setNumber,
          job.hostId,
          job.leaseToken,
          job.state,
          job.sealed,
          job.result ? JSON.stringify(job.result) : null,
          job.openedAt,
          job.startedAt ?? null,
          job.endedAt ?? null,
          job.lastUploadAt ?? null,
          job.progress ? JSON.stringify(job.progress) : null,
          job.tests ? JSON.stringify(job.tests) : null,
          job.savedBytes ?? null,
          logSize,
          logObject,
          // Records of the version before lease ids were kept apart: the lease token was both.
          (job as Partial<JobRecord>).leaseId ?? job.leaseToken,
        ],
      );
      if (inserted.length === 0) return;
      if (chunk)
        await tx.query('INSERT INTO log_chunks (job_id, start_offset, data) VALUES ($1, 0, $2)', [job.id, chunk]);
      for (const a of artifacts)
        await tx.query('INSERT INTO artifacts (job_id, name, size_bytes, object_key) VALUES ($1, $2, $3, $4)', [
          job.id,
          a.name,
          a.size,
          a.key,
        ]);
      report.jobs++;
      if (logSize > 0) report.logs++;
      report.artifacts += artifacts.length;
    });
  }

  async function importVerdicts(runJobId: string, submissionId: string): Promise<void> {
    const dir = path.join(jobsDir, runJobId);
    for (const file of (await listDir(path.join(dir, 'verdicts'))).filter((f) => /^\d+\.json$/.test(f))) {
      const verdicts = await readJson<BatchVerdict[]>(path.join(dir, 'verdicts', file));
      if (!verdicts) continue;
      const rows = await db.query(
        'INSERT INTO batch_verdicts (run_job_id, part_offset, submission_id, verdicts) VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING RETURNING 1',
        [runJobId, Number(file.slice(0, -'.json'.length)), submissionId, JSON.stringify(verdicts)],
      );
      report.verdictParts += rows.length;
    }
    for (const file of (await listDir(path.join(dir, 'late'))).filter((f) => f.endsWith('.json'))) {
      const late = await readJson<LateReport>(path.join(dir, 'late', file));
      if (!late || !JOB_ID_PATTERN.test(late.batchId)) continue;
      const rows = await db.query(
        'INSERT INTO late_reports (run_job_id, batch_id, submission_id, report) VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING RETURNING 1',
        [runJobId, late.batchId, submissionId, JSON.stringify(late)],
      );
      report.lateReports += rows.length;
    }
  }
}
