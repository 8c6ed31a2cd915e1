/**
 * @module Artifact upload, while the runner runs and after: every file in the results dir
 * goes up once per version (size and modification time), PNGs optimised first. A manifest
 * in the job dir remembers what the API has, so the final upload (another activity, and
 * its retries after a transient API error) skips what is already there. While the runner
 * runs, a file is sent only once it stood still for one tick, so a half-written
 * screenshot is not uploaded.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TestbayClient } from '../../api/client.js';
import { checkArtifactName } from '../../domain/artifact-name.js';
import type { Logger } from '../../logger.js';

export interface UploadedFile {
  sizeBytes: number;
  mtimeMs: number;
  /** bytes sent (after optimisation) */
  uploadedBytes: number;
  savedBytes: number;
}

export type Prepare = (file: string, outFile: string) => Promise<{ file: string; savedBytes: number }>;

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
        if (!this.warned.has(name)) this.log.warn('skipping artifact with an unsafe name', { job: this.job.jobId, name, reason: check.reason });
        this.warned.add(name);
        continue;
      }
      const file = path.join(this.resultsDir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (!stat) continue;
      const done = manifest[name];
      if (done && done.sizeBytes === stat.size && done.mtimeMs === stat.mtimeMs) continue;
      const version = `${stat.size}:${stat.mtimeMs}`;
      const stable = this.seen.get(name) === version;
      this.seen.set(name, version);
      if (!options.final && !stable) continue;

      const prepared = this.prepare ? await this.prepare(file, path.join(this.jobDir, 'optimised', name)) : { file, savedBytes: 0 };
      const size = (await fs.stat(prepared.file)).size;
      await this.api.putArtifact(this.job.jobId, this.job.leaseToken, name, createReadStream(prepared.file), size);
      manifest[name] = { sizeBytes: stat.size, mtimeMs: stat.mtimeMs, uploadedBytes: size, savedBytes: prepared.savedBytes };
      await fs.writeFile(`${this.manifestFile}.tmp`, JSON.stringify(manifest));
      await fs.rename(`${this.manifestFile}.tmp`, this.manifestFile);
      count++;
      options.onUploaded?.(count);
    }
    return count;
  }

  async totals(): Promise<ArtifactTotals> {
    const files = Object.values(await this.load());
    return {
      artifacts: files.length,
      bytes: files.reduce((s, f) => s + f.uploadedBytes, 0),
      savedBytes: files.reduce((s, f) => s + f.savedBytes, 0),
    };
  }
}
