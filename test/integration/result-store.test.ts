/**
 * The result store's contract, run against every engine: the embedded PGlite with the
 * folder object store, a real PostgreSQL server with the folder, and PostgreSQL with a
 * real S3-compatible server (VersityGW). Fencing, sealing, idempotent log appends that
 * refuse a gap, the final view written once, first late report wins, artifacts that
 * leave nothing behind when refused, retention, live events (across two store instances
 * on one PostgreSQL), migrations, and the import of a folder store.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { importFolder } from '../../src/api/store/import-folder.js';
import { openResultStore } from '../../src/api/store/open-store.js';
import type { JobRecord, StoreEvent, SubmissionRecord } from '../../src/api/store/result-store.js';
import { type StoreError } from '../../src/api/store/result-store.js';
import type { SqlResultStore } from '../../src/api/store/sql-store.js';
import { migrate, MIGRATIONS } from '../../src/api/store/sql/migrations.js';
import { openPgDb } from '../../src/api/store/sql/pg-db.js';
import { loadConfig, type Config } from '../../src/config.js';
import { buildPlan } from '../../src/domain/plan.js';
import { validateSpec } from '../../src/domain/parse-spec.js';
import type { SubmissionView } from '../../src/domain/views.js';
import { PayloadKey, payloadKeyFile } from '../../src/sealing.js';
import { BIN } from '../helpers/lab.js';
import { freePort } from '../helpers/ports.js';
import { ENGINES, engineConfig, testDatabase, type EngineName } from '../helpers/store-engines.js';

const run = promisify(execFile);
const opened: { store: SqlResultStore; dir: string }[] = [];

async function openStore(
  engine: EngineName,
  shared?: { config: Config },
): Promise<{ store: SqlResultStore; config: Config; dir: string }> {
  const e = shared ?? (await engineConfig(engine));
  const store = await openResultStore(e.config, undefined, { sweepMs: 0 });
  const dir = e.config.dataDir;
  opened.push({ store, dir });
  return { store, config: e.config, dir };
}

afterEach(async () => {
  for (const { store, dir } of opened.splice(0)) {
    await store.close().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
});

let n = 0;
const newId = () => `s${Date.now().toString(36)}${(n++).toString(36).padStart(3, '0')}`;

function submissionRecord(id: string, name = 'nightly', jobs = ['install', 'desktop']): SubmissionRecord {
  const parsed = validateSpec({
    name,
    jobs: jobs.map((j) => ({ name: j, workerClass: 'local', runner: { command: ['true'] } })),
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return {
    id,
    createdAt: new Date().toISOString(),
    name,
    submission: parsed.submission,
    plan: buildPlan(parsed.submission),
    workflowId: `sub-${id}`,
  };
}

function finalView(
  id: string,
  result: 'passed' | 'failed',
  hosts: string[] = ['h1'],
  endedAt = new Date().toISOString(),
): SubmissionView {
  return {
    id,
    state: 'done',
    result,
    createdAt: endedAt,
    endedAt,
    workflowId: `sub-${id}`,
    jobs: hosts.map((h, i) => ({
      id: `${id}.${i + 1}`,
      name: `j${i}`,
      setNumber: i,
      attempt: 1,
      workerClass: 'local',
      state: 'done',
      hostId: h,
      result: { kind: result, reason: 'x' } as never,
    })),
    recipeSets: [],
  };
}

async function open(
  store: SqlResultStore,
  sub: string,
  n: number,
  lease = `lease-${sub}-${n}`,
  hostId = 'h1',
): Promise<JobRecord> {
  return store.openJob({
    jobId: `${sub}.${n}`,
    submissionId: sub,
    name: `job${n}`,
    attempt: 1,
    setNumber: 1,
    hostId,
    leaseId: `id-${lease}`,
    leaseToken: lease,
  });
}

const text = async (r: Readable | undefined) => {
  if (!r) return undefined;
  const parts: Buffer[] = [];
  for await (const c of r as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
};

const conflict = expect.objectContaining({ code: 'conflict' }) as unknown;

/** Every object key left in the store's object store (folder or bucket). */
async function objectKeys(config: Config): Promise<string[]> {
  const o = config.store.objects;
  if (o.kind === 'folder') {
    const out: string[] = [];
    const walk = async (d: string, rel: string) => {
      for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
        if (e.isDirectory()) await walk(path.join(d, e.name), `${rel}${e.name}/`);
        else out.push(`${rel}${e.name}`);
      }
    };
    await walk(o.dir, '');
    return out.sort();
  }
  const s3 = inject('s3');
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
  });
  const listed = await client.send(new ListObjectsV2Command({ Bucket: o.bucket, Prefix: `${o.prefix}/` }));
  client.destroy();
  return (listed.Contents ?? []).map((c) => c.Key!.slice(o.prefix.length + 1)).sort();
}

describe.each(ENGINES)('the result store on %s', (engine) => {
  it('lists submissions newest first, filtered by state, result, host and text', async () => {
    const { store } = await openStore(engine);
    const a = newId();
    const b = newId();
    const c = newId();
    await store.createSubmission(submissionRecord(a, 'alpha 100%_done', ['boot']));
    await store.createSubmission(submissionRecord(b, 'beta', ['desktop']));
    await store.createSubmission(submissionRecord(c, 'gamma', ['server']));
    await open(store, b, 1, 'l', 'h7');
    await store.finishSubmission(finalView(b, 'failed', ['h7']));
    await store.finishSubmission(finalView(c, 'passed', ['h2']));
    const ids = async (q: Parameters<SqlResultStore['listSubmissions']>[0]) =>
      (await store.listSubmissions(q)).map((s) => s.id);
    expect(await ids({ limit: 10 })).toEqual([c, b, a]);
    expect(await ids({ limit: 2 })).toEqual([c, b]);
    expect(await ids({ limit: 10, state: 'running' })).toEqual([a]);
    expect(await ids({ limit: 10, state: 'done' })).toEqual([c, b]);
    expect(await ids({ limit: 10, result: 'failed' })).toEqual([b]);
    expect(await ids({ limit: 10, host: 'h7' })).toEqual([b]);
    expect(await ids({ limit: 10, text: 'DESK' })).toEqual([b]);
    expect(await ids({ limit: 10, text: '100%_' })).toEqual([a]);
    expect(await ids({ limit: 10, text: '%' })).toEqual([a]);
    expect(await ids({ limit: 10, text: b.slice(2) })).toEqual([b]);
    const [summary] = await store.listSubmissions({ limit: 1, result: 'failed' });
    expect(summary).toMatchObject({
      id: b,
      name: 'beta',
      state: 'done',
      result: 'failed',
      jobNames: ['desktop'],
      hosts: ['h7'],
    });
  });

  it('writes a final view once: a second is refused', async () => {
    const { store } = await openStore(engine);
    const id = newId();
    await store.createSubmission(submissionRecord(id));
    const view = finalView(id, 'passed');
    await store.finishSubmission(view);
    await store.finishSubmission(view); // a retry of the same write
    await expect(store.finishSubmission(finalView(id, 'failed'))).rejects.toEqual(conflict);
    expect((await store.getSubmission(id))?.final?.result).toBe('passed');
    await expect(store.finishSubmission(finalView(newId(), 'passed'))).rejects.toEqual(
      expect.objectContaining({ code: 'not-found' }),
    );
    // Two at once: exactly one wins.
    const other = newId();
    await store.createSubmission(submissionRecord(other));
    const both = await Promise.allSettled([
      store.finishSubmission(finalView(other, 'passed')),
      store.finishSubmission(finalView(other, 'failed')),
    ]);
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    await store.noteRestart(id, 'again1');
    await store.noteRestart(id, 'again1');
    expect((await store.getSubmission(id))?.restartedAs).toEqual(['again1']);
  });

  it('fences a job record with its lease and seals it when it ends', async () => {
    const { store } = await openStore(engine);
    const sub = newId();
    await store.createSubmission(submissionRecord(sub));
    const job = await open(store, sub, 1, 'lease-a');
    // Opening again with the same input is idempotent; another lease is refused.
    expect(await open(store, sub, 1, 'lease-a')).toEqual(job);
    // The same lease again keeps the record's first upload token.
    expect(
      (
        await store.openJob({
          jobId: job.id,
          submissionId: sub,
          name: 'job1',
          attempt: 1,
          setNumber: 1,
          hostId: 'h1',
          leaseId: job.leaseId,
          leaseToken: 'a-fresh-token',
        })
      ).leaseToken,
    ).toBe('lease-a');
    await expect(open(store, sub, 1, 'lease-b')).rejects.toEqual(conflict);
    // Only the lease may write.
    await expect(store.updateJob(job.id, 'lease-b', { state: 'running' })).rejects.toEqual(conflict);
    await expect(store.appendLog(job.id, 'lease-', 0, Buffer.from('x'))).rejects.toEqual(conflict);
    await expect(store.putArtifact(job.id, 'lease-b', 'a.txt', Readable.from([Buffer.from('x')]), 100)).rejects.toEqual(
      conflict,
    );
    const running = await store.updateJob(job.id, 'lease-a', {
      state: 'running',
      progress: { module: 'boot', percent: 10 },
    });
    expect(running).toMatchObject({ state: 'running', progress: { module: 'boot', percent: 10 } });
    expect(running.startedAt).toBeTruthy();
    expect((await store.listOpenJobs('h1')).map((j) => j.id)).toEqual([job.id]);
    // Uploads racing the end: each is either before the seal or refused, never after it.
    const racing = Array.from({ length: 20 }, (_, i) =>
      store.updateJob(job.id, 'lease-a', { progress: { module: `m${i}` } }).then(
        () => 'ok',
        (e: StoreError) => e.code,
      ),
    );
    const finished = await store.finishJob(job.id, job.leaseId, { kind: 'passed' });
    expect(new Set(await Promise.all(racing))).toEqual(expect.any(Set));
    expect(finished).toMatchObject({ sealed: true, state: 'done', result: { kind: 'passed' } });
    const after = (await store.getJob(job.id))!;
    expect(after.progress).toEqual(finished.progress);
    await expect(store.updateJob(job.id, 'lease-a', { state: 'running' })).rejects.toEqual(conflict);
    await expect(store.appendLog(job.id, 'lease-a', 0, Buffer.from('late'))).rejects.toEqual(conflict);
    await expect(
      store.putArtifact(job.id, 'lease-a', 'late.txt', Readable.from([Buffer.from('x')]), 100),
    ).rejects.toEqual(conflict);
    // A retried finish changes nothing; another lease may not finish it.
    expect(
      (await store.finishJob(job.id, job.leaseId, { kind: 'aborted', cause: 'internal', reason: 'late' } as never))
        .result,
    ).toEqual({ kind: 'passed' });
    await expect(store.finishJob(job.id, 'another-lease-id', { kind: 'passed' })).rejects.toEqual(conflict);
    await expect(store.finishJob(job.id, 'lease-a', { kind: 'passed' })).rejects.toEqual(conflict); // the upload token is not the lease id
    expect(await store.listOpenJobs('h1')).toEqual([]);
    expect((await store.listSubmissions({ limit: 5, host: 'h1' })).map((s) => s.id)).toEqual([sub]);
  });

  it('appends a log idempotently at offsets, refuses a gap, and streams it as one log before and after it is sealed', async () => {
    const { store, config } = await openStore(engine);
    const sub = newId();
    await store.createSubmission(submissionRecord(sub));
    const job = await open(store, sub, 1, 'L');
    const chunks = Array.from({ length: 40 }, (_, i) => `line ${i} ${'é'.repeat(i % 5)}\n`);
    const all = Buffer.from(chunks.join(''));
    // Every chunk sent three times, at once and out of order: stored once each.
    let offset = 0;
    const sends: Promise<unknown>[] = [];
    for (const c of chunks) {
      const b = Buffer.from(c);
      const at = offset;
      offset += b.length;
      sends.push(
        (async () => {
          for (let tries = 0; ; tries++) {
            try {
              return await store.appendLog(job.id, 'L', at, b);
            } catch (err) {
              if ((err as StoreError).code !== 'conflict' || tries > 200) throw err;
              await sleep(2); // its predecessor is not stored yet: a gap, refused
            }
          }
        })(),
      );
    }
    await Promise.all([...sends, ...sends]);
    expect(await store.appendLog(job.id, 'L', 0, all.subarray(0, 10))).toEqual({ size: all.length });
    await expect(store.appendLog(job.id, 'L', all.length + 1, Buffer.from('gap'))).rejects.toEqual(conflict);
    // Overlapping: only the new part is stored.
    expect(
      await store.appendLog(
        job.id,
        'L',
        all.length - 3,
        Buffer.concat([all.subarray(all.length - 3), Buffer.from('tail')]),
      ),
    ).toEqual({ size: all.length + 4 });
    const expected = `${all.toString('utf8')}tail`;
    expect(await text(store.readLog(job.id, 0))).toBe(expected);
    expect(await text(store.readLog(job.id, 7))).toBe(Buffer.from(expected).subarray(7).toString('utf8'));
    expect((await store.getJob(job.id))?.logBytes).toBe(Buffer.byteLength(expected));
    await store.finishJob(job.id, job.leaseId, { kind: 'passed' });
    await store.moveLog(job.id);
    expect(await objectKeys(config)).toContain(`jobs/${job.id}/log`);
    expect(await text(store.readLog(job.id, 0))).toBe(expected);
    expect(await text(store.readLog(job.id, 12))).toBe(Buffer.from(expected).subarray(12).toString('utf8'));
    expect(await text(store.readLog(job.id, Buffer.byteLength(expected)))).toBe('');
    const [chunksLeft] = await store.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM log_chunks WHERE job_id = $1',
      [job.id],
    );
    expect(chunksLeft?.n).toBe(0);
  });

  it('stores artifacts, replaces them, and leaves nothing behind when one is refused', async () => {
    const { store, config } = await openStore(engine);
    const sub = newId();
    await store.createSubmission(submissionRecord(sub));
    const job = await open(store, sub, 1, 'L');
    const body = (s: string) => Readable.from([Buffer.from(s)]);
    expect(await store.putArtifact(job.id, 'L', 'screenshots/boot.png', body('png-1'), 100)).toEqual({
      name: 'screenshots/boot.png',
      sizeBytes: 5,
    });
    await store.putArtifact(job.id, 'L', 'screenshots/boot.png', body('png-two'), 100);
    await store.putArtifact(job.id, 'L', 'junit.xml', body('<x/>'), 100);
    expect(await text(await store.openArtifact(job.id, 'screenshots/boot.png'))).toBe('png-two');
    expect((await store.getJob(job.id))?.artifacts).toEqual([
      { name: 'junit.xml', sizeBytes: 4 },
      { name: 'screenshots/boot.png', sizeBytes: 7 },
    ]);
    const before = await objectKeys(config);
    expect(before).toHaveLength(2); // the replaced object is gone
    // Refused: too large, a name that is a folder of another, a file under another, a bad name.
    await expect(store.putArtifact(job.id, 'L', 'big.bin', body('x'.repeat(101)), 100)).rejects.toEqual(
      expect.objectContaining({ code: 'too-large' }),
    );
    await expect(store.putArtifact(job.id, 'L', 'screenshots', body('x'), 100)).rejects.toEqual(conflict);
    await expect(store.putArtifact(job.id, 'L', 'junit.xml/inner', body('x'), 100)).rejects.toEqual(conflict);
    await expect(store.putArtifact(job.id, 'L', '../escape', body('x'), 100)).rejects.toEqual(
      expect.objectContaining({ code: 'bad-name' }),
    );
    expect(await objectKeys(config)).toEqual(before);
    expect(before.every((k) => !k.endsWith('.part'))).toBe(true);
    const [pending] = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM object_deletions');
    expect(pending?.n).toBe(0);
    expect(await store.openArtifact(job.id, 'nothing.txt')).toBeUndefined();
  });

  it('keeps batch-run test lists and verdicts; the first late report of a batch wins', async () => {
    const { store } = await openStore(engine);
    const sub = newId();
    await store.putBatchTests(sub, 'devices', ['t1', 't2', 't3', 't4']);
    expect(await store.getBatchTests(sub, 'devices', 1, 2)).toEqual(['t2', 't3']);
    expect(await store.getBatchTests(sub, 'devices', 3, 10)).toEqual(['t4']);
    expect(await store.getBatchTests(sub, 'devices', 9, 10)).toEqual([]);
    await expect(store.getBatchTests(sub, 'other', 0, 1)).rejects.toEqual(
      expect.objectContaining({ code: 'not-found' }),
    );
    const run = `${sub}.1`;
    await store.putBatchVerdicts(run, 2, [
      {
        test: 't3',
        verdict: 'failed',
        attempts: 1,
        history: [{ batchId: `${run}.1`, hostId: 'h1', at: 1, outcome: 'failed' }],
      },
    ]);
    await store.putBatchVerdicts(run, 0, [
      { test: 't1', verdict: 'passed', attempts: 1 },
      { test: 't2', verdict: 'passed', attempts: 1 },
    ]);
    await store.putBatchVerdicts(run, 2, [
      {
        test: 't3',
        verdict: 'lost',
        attempts: 2,
        history: [{ batchId: `${run}.1`, hostId: 'h1', at: 1, outcome: 'lost' }],
      },
    ]);
    expect((await store.getBatchVerdicts(run)).map((v) => [v.test, v.verdict])).toEqual([
      ['t1', 'passed'],
      ['t2', 'passed'],
      ['t3', 'lost'],
    ]);
    const report = (status: 'passed' | 'failed') => ({
      batchId: `${run}.1`,
      hostId: 'h1',
      at: 5,
      results: [{ test: 't3', status }],
    });
    await Promise.all([store.addLateReport(run, report('passed')), store.addLateReport(run, report('failed'))]);
    await store.addLateReport(run, report('failed'));
    const t3 = (await store.getBatchVerdicts(run)).find((v) => v.test === 't3')!;
    expect(t3.late).toBe(1);
    expect(t3.history?.filter((h) => h.outcome === 'late')).toHaveLength(1);
  });

  it('retention: deletes logs and artifacts after the logs period and records after the records period, never of a running or kept submission', async () => {
    const { store, config } = await openStore(engine);
    const [done, kept, running, unkept] = [newId(), newId(), newId(), newId()];
    for (const id of [done, kept, running, unkept]) {
      await store.createSubmission(submissionRecord(id));
      const job = await open(store, id, 1, 'L');
      await store.appendLog(job.id, 'L', 0, Buffer.from(`log of ${id}\n`));
      await store.putArtifact(job.id, 'L', 'shot.png', Readable.from([Buffer.from('png')]), 100);
      await store.finishJob(job.id, job.leaseId, { kind: 'passed' });
      if (id !== running) await store.finishSubmission(finalView(id, 'passed'));
    }
    await store.idle();
    await store.setKeep(kept, true);
    await store.setKeep(unkept, true);
    await store.setKeep(unkept, false);
    expect((await store.getSubmission(kept))?.keep).toBe(true);
    const policy = { logsDays: 30, recordsDays: 365 };
    expect(await store.applyRetention(policy)).toMatchObject({ purgedJobs: 0, deletedSubmissions: 0 });
    const day = 86_400_000;
    const purge = await store.applyRetention(policy, new Date(Date.now() + 31 * day));
    expect(purge).toMatchObject({ purgedJobs: 2, deletedSubmissions: 0 });
    for (const id of [done, unkept]) {
      const job = (await store.getJob(`${id}.1`))!;
      expect(job).toMatchObject({ logBytes: 0, artifacts: [] });
      expect(job.purgedAt).toBeTruthy();
      expect(await text(store.readLog(job.id, 0))).toBe('');
    }
    for (const id of [kept, running]) {
      expect(await text(store.readLog(`${id}.1`, 0))).toBe(`log of ${id}\n`);
      expect(await text(await store.openArtifact(`${id}.1`, 'shot.png'))).toBe('png');
    }
    const removed = await store.applyRetention(policy, new Date(Date.now() + 366 * day));
    expect(removed).toMatchObject({ deletedSubmissions: 2, deletedJobs: 2 });
    expect(removed.deletedIds.sort()).toEqual([done, unkept].sort());
    expect(await store.getSubmission(done)).toBeUndefined();
    expect(await store.getJob(`${done}.1`)).toBeUndefined();
    expect(await store.getSubmission(kept)).toBeDefined();
    expect(await store.getSubmission(running)).toBeDefined();
    // Only the kept and the running submissions' objects are left.
    expect([...new Set((await objectKeys(config)).map((k) => k.split('/')[1]))].sort()).toEqual(
      [`${kept}.1`, `${running}.1`].sort(),
    );
  });

  it('announces changes to subscribers: log appends, job changes, submissions', async () => {
    const { store, config } = await openStore(engine);
    // On PostgreSQL a second store instance (another API server) hears them too.
    const other = engine === 'pglite' ? store : (await openStore(engine, { config })).store;
    const events: StoreEvent[] = [];
    const stop = other.subscribe((e) => events.push(e));
    const sub = newId();
    await store.createSubmission(submissionRecord(sub));
    const job = await open(store, sub, 1, 'L');
    await store.appendLog(job.id, 'L', 0, Buffer.from('hello\n'));
    await store.finishJob(job.id, job.leaseId, { kind: 'failed', reason: 'a test failed' });
    await store.finishSubmission(finalView(sub, 'failed'));
    const seen = () =>
      events.map((e) =>
        e.kind === 'job'
          ? `job ${e.job.id} ${e.job.state}${e.job.sealed ? ' sealed' : ''}`
          : e.kind === 'log'
            ? `log ${e.id} ${e.size}`
            : e.kind === 'submission'
              ? `submission ${e.id}`
              : e.kind,
      );
    await expect
      .poll(seen, { timeout: 5_000 })
      .toEqual([
        `submission ${sub}`,
        `job ${job.id} scheduled`,
        `log ${job.id} 6`,
        `job ${job.id} done sealed`,
        `submission ${sub}`,
      ]);
    const ended = events.find((e) => e.kind === 'job' && e.job.sealed);
    expect(ended).toMatchObject({ job: { submissionId: sub, attempt: 1, result: { kind: 'failed' } } });
    stop();
  });
});

describe.each(ENGINES)('scenarios and review on %s', (engine) => {
  /** A submission of scenario jobs; `ARCH` is a scenario key, `OTHER` is not. */
  function scenarioRecord(id: string, settings: Record<string, string>): SubmissionRecord {
    const parsed = validateSpec({
      defaults: { scenarioKeys: ['ARCH'] },
      jobs: [{ name: 'install', workerClass: 'local', runner: { command: ['true'] }, settings }],
      batchRuns: [{ name: 'suite', tests: ['t1', 't2'], workerClass: 'local', runner: { command: ['true'] } }],
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    return {
      id,
      createdAt: new Date().toISOString(),
      submission: parsed.submission,
      plan: buildPlan(parsed.submission),
      workflowId: `sub-${id}`,
    };
  }
  const run = async (
    store: SqlResultStore,
    settings: Record<string, string>,
    result: 'passed' | 'failed',
    hostId = 'h1',
  ) => {
    const sub = newId();
    await store.createSubmission(scenarioRecord(sub, settings));
    const job = await store.openJob({
      jobId: `${sub}.1`,
      submissionId: sub,
      name: 'install',
      attempt: 1,
      setNumber: 1,
      hostId,
      leaseId: `id-${sub}`,
      leaseToken: `t-${sub}`,
    });
    await store.updateJob(job.id, `t-${sub}`, {
      testCode: { commit: `c-${sub}`, log: [`c-${sub} change`] },
      tests: [{ name: 'boot', status: result }],
    });
    await store.review.recordHostCapabilities(job.id, { memory_gb: '16' });
    await store.finishJob(
      job.id,
      job.leaseId,
      result === 'passed' ? { kind: 'passed' } : { kind: 'failed', reason: 'boot failed' },
    );
    return { sub, job: (await store.getJob(job.id))! };
  };

  it("keeps a job's scenario with its record and lists a scenario's runs newest first, by result, before and after a run", async () => {
    const { store } = await openStore(engine);
    const a = await run(store, { ARCH: 'x86_64', OTHER: '1' }, 'passed');
    const b = await run(store, { ARCH: 'x86_64', OTHER: '2' }, 'failed', 'h2');
    const c = await run(store, { ARCH: 'x86_64' }, 'failed');
    const other = await run(store, { ARCH: 'aarch64' }, 'passed');
    expect(a.job).toMatchObject({
      scenario: 'install@local+ARCH=x86_64',
      testCode: { commit: `c-${a.sub}` },
      hostCapabilities: { memory_gb: '16' },
    });
    expect(other.job.scenario).toBe('install@local+ARCH=aarch64');
    const key = 'install@local+ARCH=x86_64';
    const all = await store.review.scenarioRuns(key, { limit: 10 });
    expect(all.map((r) => r.jobId)).toEqual([c.job.id, b.job.id, a.job.id]);
    expect(all[1]).toMatchObject({
      submissionId: b.sub,
      hostId: 'h2',
      state: 'done',
      result: { kind: 'failed' },
      testsCommit: `c-${b.sub}`,
    });
    expect((await store.review.scenarioRuns(key, { limit: 2 })).length).toBe(2);
    expect((await store.review.scenarioRuns(key, { limit: 10, result: 'passed' })).map((r) => r.jobId)).toEqual([
      a.job.id,
    ]);
    expect(
      (await store.review.scenarioRuns(key, { limit: 10, before: c.job.id, result: 'failed' })).map((r) => r.jobId),
    ).toEqual([b.job.id]);
    expect(
      (await store.review.scenarioRuns(key, { limit: 1, after: a.job.id, oldestFirst: true })).map((r) => r.jobId),
    ).toEqual([b.job.id]);
    expect(await store.review.scenarioRuns('install@nowhere', { limit: 10 })).toEqual([]);
    expect(await store.review.scenarioRuns('not a key', { limit: 10 })).toEqual([]);
  });

  it("lists one test's verdicts across batch runs of a scenario", async () => {
    const { store } = await openStore(engine);
    const subs = [newId(), newId()];
    for (const [i, sub] of subs.entries()) {
      await store.createSubmission(scenarioRecord(sub, {}));
      await store.openJob({
        jobId: `${sub}.2.1`,
        submissionId: sub,
        name: 'suite#1',
        attempt: 1,
        setNumber: 0,
        hostId: 'h3',
        leaseId: 'l',
        leaseToken: 't',
      });
      await store.putBatchVerdicts(`${sub}.2`, 0, [
        {
          test: 't1',
          verdict: i === 0 ? 'passed' : 'failed',
          reason: i === 0 ? undefined : 'assert',
          attempts: 1,
          history: [{ batchId: `${sub}.2.1`, hostId: 'h3', at: 1, outcome: 'result' }],
        },
        { test: 't2', verdict: 'passed', attempts: 1 },
      ] as never);
    }
    const runs = await store.review.scenarioRuns('suite@local+ARCH=/t1', { limit: 10 });
    expect(runs.map((r) => [r.jobId, r.result?.kind, r.hostId, r.name])).toEqual([
      [`${subs[1]}.2`, 'failed', 'h3', 'suite/t1'],
      [`${subs[0]}.2`, 'passed', 'h3', 'suite/t1'],
    ]);
    expect(
      (await store.review.scenarioRuns('suite@local+ARCH=/t1', { limit: 10, result: 'passed' })).map((r) => r.jobId),
    ).toEqual([`${subs[0]}.2`]);
  });

  it('keeps comments (author, time, text as given) and labels; failed jobs without a comment need review, newest first; retention takes them with their submission', async () => {
    const { store } = await openStore(engine);
    const a = await run(store, { ARCH: 'x' }, 'failed');
    const b = await run(store, { ARCH: 'x' }, 'failed');
    const passed = await run(store, { ARCH: 'x' }, 'passed');
    const review = () =>
      store.review
        .needsReview(50)
        .then((items) => items.map((i) => i.jobId).filter((id) => [a, b, passed].some((r) => r.job.id === id)));
    expect(await review()).toEqual([b.job.id, a.job.id]);
    const c = await store.review.addComment({ targetId: a.job.id, author: 'alice', text: '<b>bsc#1234</b> again' });
    expect(c).toMatchObject({
      targetId: a.job.id,
      submissionId: a.sub,
      author: 'alice',
      text: '<b>bsc#1234</b> again',
    });
    expect(Date.parse(c.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    await store.review.addComment({ targetId: a.sub, author: 'bob', text: 'on the submission' });
    await store.review.addComment({
      targetId: a.job.id,
      author: 'testbay',
      text: 'carried',
      carriedOverFrom: b.job.id,
    });
    expect((await store.review.listComments(a.job.id)).map((x) => [x.author, x.carriedOverFrom])).toEqual([
      ['alice', undefined],
      ['testbay', b.job.id],
    ]);
    expect((await store.review.listComments(a.sub)).map((x) => x.text)).toEqual(['on the submission']);
    expect(await review()).toEqual([b.job.id]);
    await expect(store.review.addComment({ targetId: 'nosuch.1', author: 'x', text: 'y' })).rejects.toMatchObject({
      code: 'not-found',
    });
    await expect(store.review.addComment({ targetId: `${a.sub}.99`, author: 'x', text: 'y' })).rejects.toMatchObject({
      code: 'not-found',
    });
    expect((await store.review.setLabel(b.job.id, 'flaky', 'alice', true)).map((l) => l.label)).toEqual(['flaky']);
    expect((await store.review.setLabel(b.job.id, 'infra', 'bob', true)).map((l) => [l.label, l.addedBy])).toEqual([
      ['flaky', 'alice'],
      ['infra', 'bob'],
    ]);
    expect((await store.review.setLabel(b.job.id, 'flaky', 'alice', false)).map((l) => l.label)).toEqual(['infra']);
    expect((await store.review.needsReview(50)).find((i) => i.jobId === b.job.id)).toMatchObject({
      labels: ['infra'],
      scenario: 'install@local+ARCH=x',
      result: { kind: 'failed' },
    });
    await expect(store.review.setLabel('nosuch.1', 'flaky', 'x', true)).rejects.toMatchObject({ code: 'not-found' });
    for (const r of [a, b, passed]) await store.finishSubmission(finalView(r.sub, 'failed'));
    await store.applyRetention({ logsDays: 30, recordsDays: 365 }, new Date(Date.now() + 366 * 86_400_000));
    expect(await store.review.listComments(a.job.id)).toEqual([]);
    expect(await store.review.listLabels(b.job.id)).toEqual([]);
  });
});

describe('the result store on PostgreSQL', () => {
  it('tells listeners to look again after the events connection was lost, and hears events again', async () => {
    const { store } = await openStore('postgres');
    const events: StoreEvent[] = [];
    store.subscribe((e) => events.push(e));
    await store.db.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    );
    await expect.poll(() => events.some((e) => e.kind === 'resync'), { timeout: 10_000 }).toBe(true);
    const id = newId();
    await store.createSubmission(submissionRecord(id));
    await expect.poll(() => events.some((e) => e.kind === 'submission' && e.id === id), { timeout: 5_000 }).toBe(true);
  });

  it('migrations: two servers migrating one new database at once apply each migration once; again is a no-op', async () => {
    const { default: pg } = await import('pg');
    const url = await testDatabase();
    // A database with no schema: drop what the template brought.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    await c.end();
    const dbs = await Promise.all([openPgDb({ url, poolSize: 2 }), openPgDb({ url, poolSize: 2 })]);
    const applied = await Promise.all(dbs.map((db) => migrate(db)));
    expect(applied.flat().sort()).toEqual(MIGRATIONS.map((m) => m.version).sort());
    expect(await migrate(dbs[0])).toEqual([]);
    await Promise.all(dbs.map((db) => db.close()));
  });
});

describe('migration 2 on a database of version 1', () => {
  it("gives the jobs recorded before it their scenario (name @ worker class), batches their run's", async () => {
    const { default: pg } = await import('pg');
    const url = await testDatabase();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    await c.end();
    const db = await openPgDb({ url, poolSize: 2 });
    expect(
      await migrate(
        db,
        MIGRATIONS.filter((m) => m.version === 1),
      ),
    ).toEqual([1]);
    const sub = newId();
    const parsed = validateSpec({
      jobs: [{ name: 'install', workerClass: 'qemu', runner: { command: ['t'] } }],
      batchRuns: [{ name: 'suite', tests: ['a'], workerClass: 'local', runner: { command: ['t'] } }],
    });
    if (!parsed.ok) throw new Error('bad spec');
    await db.query(
      "INSERT INTO submissions (id, created_at, record, job_names, search) VALUES ($1, now(), $2::jsonb, '{}', '')",
      [sub, JSON.stringify({ submission: parsed.submission })],
    );
    for (const [id, name] of [
      [`${sub}.1`, 'install'],
      [`${sub}.2.1`, 'suite#1'],
      [`${sub}.3`, 'health'],
    ]) {
      await db.query(
        "INSERT INTO jobs (id, submission_id, name, attempt, set_number, host_id, lease_id, lease_token, state, opened_at) VALUES ($1, $2, $3, 1, 1, 'h', 'l', 't', 'done', now())",
        [id, sub, name],
      );
    }
    expect(await migrate(db)).toEqual(MIGRATIONS.map((m) => m.version).filter((v) => v > 1));
    const keys = await db.query<{ id: string; scenario_key: string | null }>(
      'SELECT id, scenario_key FROM jobs ORDER BY id',
    );
    expect(keys.map((k) => [k.id, k.scenario_key])).toEqual([
      [`${sub}.1`, 'install@qemu'],
      [`${sub}.2.1`, 'suite@local'],
      [`${sub}.3`, null],
    ]);
    await db.close();
  });
});

describe('opening the result store', () => {
  it('an unreachable database or object store at start-up is an error naming the variable and the address (testbay server exits 2)', async () => {
    const port = await freePort();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-unreachable-'));
    try {
      const badDb = loadConfig({
        TESTBAY_DATA_DIR: dir,
        TESTBAY_DATABASE_URL: `postgres://u:secret@127.0.0.1:${port}/testbay`,
      });
      await expect(openResultStore(badDb)).rejects.toThrow(
        new RegExp(`TESTBAY_DATABASE_URL=postgres://u:\\*\\*\\*@127.0.0.1:${port}/testbay.*ECONNREFUSED`),
      );
      const badS3 = loadConfig({
        TESTBAY_DATA_DIR: dir,
        TESTBAY_DATABASE_URL: await testDatabase(),
        TESTBAY_OBJECT_STORE: 's3://nowhere/p',
        TESTBAY_S3_ENDPOINT: `http://127.0.0.1:${port}`,
        AWS_ACCESS_KEY_ID: 'a',
        AWS_SECRET_ACCESS_KEY: 'b',
      });
      await expect(openResultStore(badS3)).rejects.toThrow(
        new RegExp(`TESTBAY_OBJECT_STORE=s3://nowhere/p at TESTBAY_S3_ENDPOINT=http://127.0.0.1:${port}`),
      );
      // Missing configuration is named too, and is bad configuration (exit 2), not a crash.
      const serverWith = (env: NodeJS.ProcessEnv) =>
        run(process.execPath, [BIN, 'server'], {
          env: {
            ...process.env,
            TESTBAY_PAYLOAD_KEY: undefined,
            TESTBAY_TOKENS: undefined,
            TESTBAY_DATA_DIR: dir,
            TESTBAY_PORT: '0',
            ...env,
          },
        }).then(
          () => ({ code: 0, stderr: '' }),
          (err: { code: number; stderr: string }) => err,
        );
      const noKey = await serverWith({});
      expect(noKey.code).toBe(2);
      expect(noKey.stderr).toMatch(/no payload key: set TESTBAY_PAYLOAD_KEY or TESTBAY_PAYLOAD_KEY_FILE/);
      await fs.writeFile(payloadKeyFile(dir), `${PayloadKey.generate().toText()}\n`, { mode: 0o600 });
      const noTokens = await serverWith({});
      expect(noTokens.code).toBe(2);
      expect(noTokens.stderr).toMatch(/no tokens configured: set TESTBAY_TOKENS or create /);
      const badTokens = await serverWith({ TESTBAY_TOKENS: '[{"token": 1' });
      expect(badTokens.code).toBe(2);
      expect(badTokens.stderr).toMatch(/TESTBAY_TOKENS: not JSON/);
      const server = await run(process.execPath, [BIN, 'server'], {
        env: {
          ...process.env,
          TESTBAY_DATA_DIR: dir,
          TESTBAY_PORT: '0',
          TESTBAY_TOKENS: JSON.stringify([{ token: 't'.repeat(32), role: 'submit', name: 'x' }]),
          TESTBAY_DATABASE_URL: `postgres://u@127.0.0.1:${port}/x`,
        },
      }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      expect(server.code).toBe(2);
      expect(server.stderr).toMatch(
        new RegExp(`cannot reach the database TESTBAY_DATABASE_URL=postgres://u@127.0.0.1:${port}/x`),
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the embedded store private (folders 0700, files 0600) whatever the umask, and lets one process open it at a time', async () => {
    const old = process.umask(0);
    try {
      const { store, config } = await openStore('pglite');
      const sub = newId();
      await store.createSubmission(submissionRecord(sub));
      const job = await open(store, sub, 1, 'L');
      await store.appendLog(job.id, 'L', 0, Buffer.from('x'.repeat(100_000)));
      await store.putArtifact(job.id, 'L', 'a/b/c.txt', Readable.from([Buffer.from('c')]), 100);
      await store.finishJob(job.id, job.leaseId, { kind: 'passed' });
      await store.moveLog(job.id);
      await store.db.query('CHECKPOINT');
      const bad: string[] = [];
      const walk = async (p: string) => {
        const st = await fs.lstat(p);
        if ((st.mode & 0o777) !== (st.isDirectory() ? 0o700 : 0o600)) bad.push(`${p} ${(st.mode & 0o777).toString(8)}`);
        if (st.isDirectory()) for (const e of await fs.readdir(p)) await walk(path.join(p, e));
      };
      for (const p of [
        config.store.embeddedDir,
        `${config.store.embeddedDir}.lock`,
        (config.store.objects as { dir: string }).dir,
      ])
        await walk(p);
      expect(bad).toEqual([]);
      await expect(openResultStore(config)).rejects.toThrow(/is open in this process already/);
    } finally {
      process.umask(old);
    }
  });
});

describe('import of a folder store', () => {
  /** A data dir of the previous version: its `results` folder as fs-store wrote it. */
  async function oldFolderStore(dir: string, id: string) {
    const results = path.join(dir, 'results');
    const record = {
      ...submissionRecord(id, 'old one', ['install']),
      final: finalView(id, 'passed', ['h1']),
      restartedAs: ['zzzzzzzz'],
    };
    const job: JobRecord = {
      id: `${id}.1`,
      submissionId: id,
      name: 'install',
      attempt: 1,
      setNumber: 1,
      hostId: 'h1',
      leaseId: 'old-lease',
      leaseToken: 'old-lease',
      state: 'done',
      sealed: true,
      result: { kind: 'passed' },
      openedAt: '2026-01-01T00:00:00.000Z',
      endedAt: '2026-01-01T00:10:00.000Z',
      artifacts: [{ name: 'screenshots/boot.png', sizeBytes: 3 }],
      logBytes: 9,
      tests: [{ name: 'boot', status: 'passed' }],
    };
    await fs.mkdir(path.join(results, 'submissions'), { recursive: true });
    await fs.writeFile(path.join(results, 'submissions', `${id}.json`), JSON.stringify(record));
    await fs.writeFile(
      path.join(results, 'submissions', `${id}.batch-devices.tests.json`),
      JSON.stringify(['t1', 't2']),
    );
    await fs.writeFile(path.join(results, 'submissions', 'junk.txt'), 'not a record');
    const jobDir = path.join(results, 'jobs', job.id);
    await fs.mkdir(path.join(jobDir, 'artifacts', 'screenshots'), { recursive: true });
    await fs.writeFile(path.join(jobDir, 'job.json'), JSON.stringify(job));
    await fs.writeFile(path.join(jobDir, 'log.txt'), 'old log\n!');
    await fs.writeFile(path.join(jobDir, 'artifacts', 'screenshots', 'boot.png'), 'png');
    await fs.writeFile(path.join(jobDir, 'artifacts', 'half.png.123.part'), 'half');
    const runDir = path.join(results, 'jobs', `${id}.2`);
    await fs.mkdir(path.join(runDir, 'verdicts'), { recursive: true });
    await fs.mkdir(path.join(runDir, 'late'), { recursive: true });
    await fs.writeFile(
      path.join(runDir, 'verdicts', '000000000.json'),
      JSON.stringify([
        {
          test: 't1',
          verdict: 'passed',
          attempts: 1,
          history: [{ batchId: `${id}.2.1`, hostId: 'h2', at: 1, outcome: 'passed' }],
        },
      ]),
    );
    await fs.writeFile(
      path.join(runDir, 'late', `${id}.2.1.json`),
      JSON.stringify({ batchId: `${id}.2.1`, hostId: 'h2', at: 2, results: [] }),
    );
    return { results, job };
  }

  it.each(['pglite', 'postgres+s3'] as const)(
    'moves the records, logs, artifacts and verdicts into the store on %s, once',
    async (engine) => {
      const { store, dir } = await openStore(engine);
      const id = newId();
      const { results, job } = await oldFolderStore(dir, id);
      const report = await importFolder(store, results);
      expect(report).toMatchObject({
        submissions: 1,
        jobs: 1,
        logs: 1,
        artifacts: 1,
        verdictParts: 1,
        lateReports: 1,
        batchTestLists: 1,
        present: 0,
      });
      expect(report.skipped).toEqual(
        expect.arrayContaining(['submissions/junk.txt', `jobs/${job.id}/artifacts/half.png.123.part`]),
      );
      const sub = (await store.getSubmission(id))!;
      expect(sub).toMatchObject({ id, name: 'old one', restartedAs: ['zzzzzzzz'], final: { result: 'passed' } });
      expect((await store.listSubmissions({ limit: 5, host: 'h1' })).map((s) => s.id)).toEqual([id]);
      expect(await store.getJob(job.id)).toMatchObject({
        sealed: true,
        leaseToken: 'old-lease',
        logBytes: 9,
        tests: [{ name: 'boot', status: 'passed' }],
        artifacts: [{ name: 'screenshots/boot.png', sizeBytes: 3 }],
      });
      expect(await text(store.readLog(job.id, 0))).toBe('old log\n!');
      expect(await text(await store.openArtifact(job.id, 'screenshots/boot.png'))).toBe('png');
      expect((await store.getBatchVerdicts(`${id}.2`)).map((v) => v.test)).toEqual(['t1']);
      expect(await store.finishSubmission(finalView(id, 'failed')).catch((e: StoreError) => e.code)).toBe('conflict');
      const again = await importFolder(store, results);
      expect(again).toMatchObject({
        submissions: 0,
        jobs: 0,
        artifacts: 0,
        verdictParts: 0,
        lateReports: 0,
        present: 2,
      });
    },
  );
});

afterAll(async () => {
  for (const { store, dir } of opened.splice(0)) {
    await store.close().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
});
