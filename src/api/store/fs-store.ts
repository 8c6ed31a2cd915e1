/**
 * @module The result store in a local folder (the embedded lab's default):
 * `submissions/<id>.json` and `jobs/<jobId>/{job.json,log.txt,artifacts/…}`. JSON is
 * written atomically (temp file + rename) and writes to one job are serialised. The
 * listing index lives in memory, rebuilt from the folder at start.
 */
import { EventEmitter } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkArtifactName } from '../../domain/artifact-name.js';
import { withLateReports, type LateReport } from '../../domain/batch-ledger.js';
import type { JobResult } from '../../domain/outcome.js';
import type { SubmissionView } from '../../domain/views.js';
import {
  StoreError,
  type ArtifactInfo,
  type BatchVerdict,
  type JobRecord,
  type ListQuery,
  type OpenJob,
  type OpenJobInput,
  type ResultStore,
  type StoreChange,
  type SubmissionRecord,
  type SubmissionSummary,
} from './result-store.js';

export class FsResultStore implements ResultStore {
  private readonly index = new Map<string, SubmissionSummary>();
  /** job records not sealed yet (opened under a lease, not finished), by job id */
  private readonly open = new Map<string, OpenJob>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly events = new EventEmitter();

  private constructor(private readonly root: string) {
    this.events.setMaxListeners(0);
  }

  static async open(root: string): Promise<FsResultStore> {
    const store = new FsResultStore(root);
    await fs.mkdir(path.join(root, 'submissions'), { recursive: true, mode: 0o700 });
    await fs.mkdir(path.join(root, 'jobs'), { recursive: true, mode: 0o700 });
    await fs.chmod(root, 0o700);
    for (const file of await fs.readdir(path.join(root, 'submissions'))) {
      if (!file.endsWith('.json') || file.includes('.batch-')) continue;
      const record = await readJson<SubmissionRecord>(path.join(root, 'submissions', file));
      if (record?.id) store.index.set(record.id, summaryOf(record));
    }
    // Running submissions: their hosts and open jobs are in their job records.
    const running = new Set([...store.index.values()].filter((s) => s.state === 'running').map((s) => s.id));
    if (running.size > 0) {
      for (const dir of await fs.readdir(path.join(root, 'jobs'))) {
        if (!running.has(dir.slice(0, dir.indexOf('.')))) continue;
        const job = await readJson<JobRecord>(path.join(root, 'jobs', dir, 'job.json')).catch(() => undefined);
        if (job) store.track(job);
      }
    }
    return store;
  }

  /** Keeps the index's view of a job: its submission ran on its host; open jobs by host. */
  private track(job: JobRecord): void {
    const summary = this.index.get(job.submissionId);
    if (summary && !summary.hosts.includes(job.hostId)) summary.hosts = [...summary.hosts, job.hostId];
    if (job.sealed) {
      this.open.delete(job.id);
      return;
    }
    const { id, submissionId, name, attempt, setNumber, hostId, state, openedAt, startedAt, progress } = job;
    this.open.set(id, { id, submissionId, name, attempt, setNumber, hostId, state, openedAt, ...(startedAt ? { startedAt } : {}), ...(progress ? { progress } : {}) });
  }

  listOpenJobs(hostId?: string): Promise<OpenJob[]> {
    return Promise.resolve([...this.open.values()].filter((j) => hostId === undefined || j.hostId === hostId));
  }

  private submissionPath(id: string) {
    return this.inside(path.join(this.root, 'submissions', `${id}.json`));
  }
  private jobDir(id: string) {
    return this.inside(path.join(this.root, 'jobs', id));
  }
  private batchTestsPath(submissionId: string, runName: string) {
    return this.inside(path.join(this.root, 'submissions', `${submissionId}.batch-${runName}.tests.json`));
  }
  /** Every path the store builds stays under its root, whatever an id or name holds. */
  private inside(p: string): string {
    const resolved = path.resolve(p);
    if (!resolved.startsWith(`${path.resolve(this.root)}${path.sep}`)) throw new StoreError('bad-name', `refusing a path outside the result store: ${p}`);
    return resolved;
  }

  /** Serialises read-modify-write cycles on one key. */
  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.locks.set(key, next);
    try {
      return await next;
    } finally {
      if (this.locks.get(key) === next) this.locks.delete(key);
    }
  }

  async createSubmission(record: SubmissionRecord): Promise<void> {
    await writeJson(this.submissionPath(record.id), record);
    this.index.set(record.id, summaryOf(record));
  }

  async dropSubmission(id: string): Promise<void> {
    await fs.rm(this.submissionPath(id), { force: true });
    this.index.delete(id);
  }

  getSubmission(id: string): Promise<SubmissionRecord | undefined> {
    return readJson<SubmissionRecord>(this.submissionPath(id));
  }

  async finishSubmission(view: SubmissionView): Promise<void> {
    await this.locked(`sub:${view.id}`, async () => {
      const record = await this.getSubmission(view.id);
      if (!record) throw new StoreError('not-found', `no submission ${view.id}`);
      // Written once: a retry of the same write is fine, a different final view is not.
      if (record.final && JSON.stringify(record.final) !== JSON.stringify(view)) throw new StoreError('conflict', `submission ${view.id} has already finished`);
      record.final = view;
      await writeJson(this.submissionPath(view.id), record);
      // Hosts seen while it ran stay (a batch's host is in no job of the final view).
      this.index.set(view.id, summaryOf(record, this.index.get(view.id)?.hosts));
    });
    this.emit({ kind: 'submission', id: view.id });
  }

  async noteRestart(id: string, restartId: string): Promise<void> {
    await this.locked(`sub:${id}`, async () => {
      const record = await this.getSubmission(id);
      if (!record) throw new StoreError('not-found', `no submission ${id}`);
      record.restartedAs = [...(record.restartedAs ?? []), restartId];
      await writeJson(this.submissionPath(id), record);
    });
  }

  listSubmissions(q: ListQuery): Promise<SubmissionSummary[]> {
    const text = q.text?.toLowerCase();
    const items = [...this.index.values()]
      .filter(
        (s) =>
          (!q.state || s.state === q.state) &&
          (!q.result || s.result === q.result) &&
          (!q.host || s.hosts.includes(q.host)) &&
          (!text || [s.id, s.name ?? '', ...s.jobNames].some((v) => v.toLowerCase().includes(text))),
      )
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
      .slice(0, q.limit);
    return Promise.resolve(items);
  }

  async openJob(input: OpenJobInput): Promise<JobRecord> {
    return this.locked(input.jobId, async () => {
      const existing = await this.getJob(input.jobId);
      if (existing) {
        if (existing.leaseId !== input.leaseId) throw new StoreError('conflict', `job ${input.jobId} is already open under another lease`);
        return existing;
      }
      const record: JobRecord = {
        id: input.jobId,
        submissionId: input.submissionId,
        name: input.name,
        attempt: input.attempt,
        setNumber: input.setNumber,
        hostId: input.hostId,
        leaseId: input.leaseId,
        leaseToken: input.leaseToken,
        state: 'scheduled',
        sealed: false,
        openedAt: new Date().toISOString(),
        artifacts: [],
        logBytes: 0,
      };
      await fs.mkdir(path.join(this.jobDir(input.jobId), 'artifacts'), { recursive: true, mode: 0o700 });
      await writeJson(path.join(this.jobDir(input.jobId), 'job.json'), record);
      this.emit({ kind: 'job', job: record });
      return record;
    });
  }

  getJob(id: string): Promise<JobRecord | undefined> {
    return readJson<JobRecord>(path.join(this.jobDir(id), 'job.json'));
  }

  private async mutateJob(id: string, fn: (job: JobRecord) => void): Promise<JobRecord> {
    return this.locked(id, async () => {
      const job = await this.getJob(id);
      if (!job) throw new StoreError('not-found', `no job ${id}`);
      fn(job);
      await writeJson(path.join(this.jobDir(id), 'job.json'), job);
      this.emit({ kind: 'job', job });
      return job;
    });
  }

  updateJob(id: string, patch: Parameters<ResultStore['updateJob']>[1]): Promise<JobRecord> {
    return this.mutateJob(id, (job) => {
      if (job.sealed) throw new StoreError('conflict', `job ${id} has ended`);
      const now = new Date().toISOString();
      if (patch.state === 'running' && !job.startedAt) job.startedAt = now;
      Object.assign(job, patch);
      job.lastUploadAt = now;
    });
  }

  finishJob(id: string, result: JobResult): Promise<JobRecord> {
    return this.mutateJob(id, (job) => {
      job.state = 'done';
      job.result = result;
      job.sealed = true;
      job.endedAt ??= new Date().toISOString();
    });
  }

  async appendLog(id: string, offset: number, data: Buffer): Promise<{ size: number }> {
    return this.locked(id, async () => {
      const job = await this.getJob(id);
      if (!job) throw new StoreError('not-found', `no job ${id}`);
      const file = path.join(this.jobDir(id), 'log.txt');
      const size = await fs.stat(file).then((s) => s.size, () => 0);
      if (offset > size) throw new StoreError('conflict', `log offset ${offset} is past the stored ${size} bytes`);
      const fresh = data.subarray(size - offset);
      if (fresh.length > 0) {
        await fs.appendFile(file, fresh, { mode: 0o600 });
        job.logBytes = size + fresh.length;
        job.lastUploadAt = new Date().toISOString();
        await writeJson(path.join(this.jobDir(id), 'job.json'), job);
        this.events.emit(`log:${id}`, job.logBytes);
      }
      return { size: size + fresh.length };
    });
  }

  readLog(id: string, start: number): Readable {
    return createReadStream(path.join(this.jobDir(id), 'log.txt'), { start });
  }

  async putArtifact(id: string, name: string, body: Readable, maxBytes: number): Promise<ArtifactInfo> {
    const check = checkArtifactName(name);
    if (!check.ok) throw new StoreError('bad-name', `artifact name "${name}" ${check.reason}`);
    const dir = path.join(this.jobDir(id), 'artifacts');
    const target = path.join(dir, name);
    const temp = `${target}.${process.pid}.${Date.now()}.part`;
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) done(new StoreError('too-large', `artifact "${name}" is larger than ${maxBytes} bytes`));
        else done(null, chunk);
      },
    });
    try {
      await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      await pipeline(body, limit, createWriteStream(temp, { mode: 0o600 }));
      await fs.rename(temp, target);
    } catch (err) {
      await fs.rm(temp, { force: true });
      // A name that clashes with a folder of earlier artifacts (`a` beside `a/b`).
      if (isClash(err)) throw new StoreError('conflict', `artifact "${name}" clashes with another artifact's folder`);
      throw err;
    }
    const info = { name, sizeBytes: size };
    await this.mutateJob(id, (job) => {
      job.artifacts = [...job.artifacts.filter((a) => a.name !== name), info].sort((a, b) => (a.name < b.name ? -1 : 1));
      job.lastUploadAt = new Date().toISOString();
    });
    return info;
  }

  async openArtifact(id: string, name: string): Promise<Readable | undefined> {
    if (!checkArtifactName(name).ok) return undefined;
    const file = path.join(this.jobDir(id), 'artifacts', name);
    const exists = await fs.stat(file).then((s) => s.isFile(), () => false);
    return exists ? createReadStream(file) : undefined;
  }

  async putBatchTests(submissionId: string, runName: string, tests: string[]): Promise<void> {
    await writeJson(this.batchTestsPath(submissionId, runName), tests);
  }

  async getBatchTests(submissionId: string, runName: string, offset: number, limit: number): Promise<string[]> {
    const listed = await readJson<string[]>(this.batchTestsPath(submissionId, runName));
    const given = listed ?? (await this.getSubmission(submissionId))?.submission.batchRuns?.find((r) => r.name === runName)?.tests;
    if (!given) throw new StoreError('not-found', `no tests for batch run ${runName} of ${submissionId}`);
    return given.slice(offset, offset + limit);
  }

  async putBatchVerdicts(runJobId: string, offset: number, verdicts: BatchVerdict[]): Promise<void> {
    await writeJson(path.join(this.jobDir(runJobId), 'verdicts', `${String(offset).padStart(9, '0')}.json`), verdicts);
  }

  async getBatchVerdicts(runJobId: string): Promise<BatchVerdict[]> {
    const [parts, late] = await Promise.all([readAll<BatchVerdict[]>(path.join(this.jobDir(runJobId), 'verdicts')), readAll<LateReport>(path.join(this.jobDir(runJobId), 'late'))]);
    return withLateReports(parts.flat(), late);
  }

  async addLateReport(runJobId: string, report: LateReport): Promise<void> {
    const file = path.join(this.jobDir(runJobId), 'late', `${report.batchId}.json`);
    await this.locked(`late:${runJobId}`, async () => {
      if (!(await readJson<LateReport>(file))) await writeJson(file, report);
    });
  }

  onLog(id: string, listener: (size: number) => void): () => void {
    this.events.on(`log:${id}`, listener);
    return () => this.events.off(`log:${id}`, listener);
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  private emit(change: StoreChange): void {
    if (change.kind === 'job') this.track(change.job);
    this.events.emit('change', change);
  }
}

/** A submission in the listing index; `seen` are hosts its jobs opened on while it ran. */
function summaryOf(r: SubmissionRecord, seen: readonly string[] = []): SubmissionSummary {
  const final = r.final ? [...r.final.jobs.flatMap((j) => (j.hostId ? [j.hostId] : [])), ...(r.final.batchRuns ?? []).flatMap((b) => b.hosts)] : [];
  const s: SubmissionSummary = {
    id: r.id,
    createdAt: r.createdAt,
    state: r.final ? 'done' : 'running',
    jobNames: [...r.submission.jobs.map((j) => j.name), ...(r.submission.batchRuns ?? []).map((b) => b.name)],
    hosts: [...new Set([...seen, ...final])],
  };
  if (r.name !== undefined) s.name = r.name;
  if (r.final?.result) s.result = r.final.result;
  if (r.final?.endedAt) s.endedAt = r.final.endedAt;
  return s;
}

function isClash(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST' || code === 'ENOTEMPTY';
}

/** Every JSON file of a folder (none when it does not exist), in name order. */
async function readAll<T>(dir: string): Promise<T[]> {
  const files = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  const all = await Promise.all(files.map((f) => readJson<T>(path.join(dir, f))));
  return all.filter((x): x is Awaited<T> => x !== undefined);
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await fs.writeFile(temp, JSON.stringify(value, null, 1), { mode: 0o600 });
  } catch (err) {
    // A disk that filled up leaves the old file as it was, and no half-written temp behind.
    await fs.rm(temp, { force: true });
    throw err;
  }
  await fs.rename(temp, file);
}
