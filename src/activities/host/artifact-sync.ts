/**
 * @module Artifact upload, while the runner runs and after: every file in the results dir
 * goes up once per version (size and modification time), PNGs optimised first. A manifest
 * in the job dir remembers what the API has, so the final upload (another activity, and
 * its retries after a transient API error) skips what is already there. While the runner
 * runs, a file is sent only once it stood still for one tick, so a half-written
 * screenshot is not uploaded.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ApiError, type TestbayClient } from '../../api/client.js';
import { checkArtifactName } from '../../domain/artifact-name.js';
import type { Logger } from '../../logger.js';
import { openRunnerFile, ownUser, type RunnerUser } from './runner-user.js';

export interface UploadedFile {
  sizeBytes: number;
  mtimeMs: number;
  /** bytes sent (after optimisation) */
  uploadedBytes: number;
  savedBytes: number;
  /** set when the API refused the file (too large): it is not tried again */
  refused?: string;
}

/**
 * Turns a results file into what is uploaded (a losslessly optimised PNG written to
 * `outFile`); `read` gives its bytes. Undefined: upload the file as it is.
 */
export type Prepare = (
  name: string,
  sizeBytes: number,
  read: () => Promise<Buffer>,
  outFile: string,
) => Promise<{ file: string; savedBytes: number } | undefined>;

export interface ArtifactTotals {
  artifacts: number;
  bytes: number;
  savedBytes: number;
}

/** Files under dir as relative '/'-separated names, sorted. */
export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, prefix), { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out.sort();
}

export class ArtifactSync {
  private manifest: Record<string, UploadedFile> | undefined;
  /** what each file looked like at the previous pass */
  private readonly seen = new Map<string, string>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly api: TestbayClient,
    private readonly job: { jobId: string; leaseToken: string },
    /** the job dir: results/ inside, the manifest and optimised copies beside it */
    private readonly jobDir: string,
    private readonly prepare: Prepare | undefined,
    private readonly log: Logger,
    /** who wrote the files: only files that user owns are read (see openRunnerFile) */
    private readonly user: RunnerUser = ownUser(),
  ) {}

  private get resultsDir() {
    return path.join(this.jobDir, 'results');
  }
  private get manifestFile() {
    return path.join(this.jobDir, 'uploaded.json');
  }

  private async load(): Promise<Record<string, UploadedFile>> {
    this.manifest ??= await fs
      .readFile(this.manifestFile, 'utf8')
      .then((t) => JSON.parse(t) as Record<string, UploadedFile>)
      .catch(() => ({}));
    return this.manifest;
  }

  /**
   * Uploads what is new or changed. `final`: the runner has ended, send everything now;
   * otherwise only files unchanged since the previous pass. `onUploaded` is called after
   * each file (for heartbeats). Errors from the API are thrown (the caller retries).
   */
  async sync(options: { final: boolean; onUploaded?: (count: number) => void }): Promise<number> {
    const manifest = await this.load();
    let count = 0;
    for (const name of await listFiles(this.resultsDir)) {
      const check = checkArtifactName(name);
      if (!check.ok) {
        if (!this.warned.has(name))
          this.log.warn('skipping artifact with an unsafe name', { job: this.job.jobId, name, reason: check.reason });
        this.warned.add(name);
        continue;
      }
      const file = path.join(this.resultsDir, name);
      const stat = await fs.lstat(file).catch(() => undefined);
      if (!stat?.isFile()) continue;
      const done = manifest[name];
      if (done && done.sizeBytes === stat.size && done.mtimeMs === stat.mtimeMs) continue;
      const version = `${stat.size}:${stat.mtimeMs}`;
      const stable = this.seen.get(name) === version;
      this.seen.set(name, version);
      if (!options.final && !stable) continue;

      // Opened once, not through a link, and only a file of the runner's: what is read is what was checked.
      const opened = await openRunnerFile(file, this.user).catch((err: unknown) => {
        if (!this.warned.has(name))
          this.log.warn('skipping artifact the host may not read', {
            job: this.job.jobId,
            name,
            reason: (err as Error).message,
          });
        this.warned.add(name);
        return undefined;
      });
      if (!opened) continue;
      let entry: UploadedFile;
      try {
        const prepared = this.prepare
          ? await this.prepare(
              name,
              opened.sizeBytes,
              () => opened.handle.readFile(),
              path.join(this.jobDir, 'optimised', name),
            )
          : undefined;
        let size = opened.sizeBytes;
        let preparedHandle: fs.FileHandle | undefined;
        if (prepared) {
          preparedHandle = await fs.open(prepared.file, 'r');
          size = (await preparedHandle.stat()).size;
        }
        // A stream opened afresh for each try: a failover to another API server sends it all again.
        const streams: Readable[] = [];
        const body = () => {
          const stream = (preparedHandle ?? opened.handle).createReadStream({
            start: 0,
            end: Math.max(0, size - 1),
            autoClose: false,
          });
          streams.push(stream);
          return stream;
        };
        try {
          await this.api.putArtifact(
            this.job.jobId,
            this.job.leaseToken,
            name,
            size === 0 ? Buffer.alloc(0) : body,
            size,
          );
          entry = {
            sizeBytes: opened.sizeBytes,
            mtimeMs: opened.mtimeMs,
            uploadedBytes: size,
            savedBytes: prepared?.savedBytes ?? 0,
          };
        } catch (err) {
          // Too large for the API: say so once and go on; the job's other results still count.
          if (!(err instanceof ApiError && err.status === 413)) throw err;
          this.log.warn('the API refused an artifact as too large', { job: this.job.jobId, name, error: err.message });
          entry = {
            sizeBytes: opened.sizeBytes,
            mtimeMs: opened.mtimeMs,
            uploadedBytes: 0,
            savedBytes: 0,
            refused: err.message,
          };
        } finally {
          for (const stream of streams) stream.destroy();
          await preparedHandle?.close();
        }
      } finally {
        await opened.handle.close();
      }
      manifest[name] = entry;
      await fs.writeFile(`${this.manifestFile}.tmp`, JSON.stringify(manifest));
      await fs.rename(`${this.manifestFile}.tmp`, this.manifestFile);
      count++;
      options.onUploaded?.(count);
    }
    return count;
  }

  async totals(): Promise<ArtifactTotals> {
    const files = Object.values(await this.load()).filter((f) => f.refused === undefined);
    return {
      artifacts: files.length,
      bytes: files.reduce((s, f) => s + f.uploadedBytes, 0),
      savedBytes: files.reduce((s, f) => s + f.savedBytes, 0),
    };
  }
}
