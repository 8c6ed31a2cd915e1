/**
 * @module The host's asset cache: content-addressed (`<cache>/assets/<sha256>`), every
 * file checked against its sha256 before it enters, one download however many jobs want
 * the same asset at once (in-process single flight, plus a lock file when hosts of one
 * machine share the cache), and a size limit kept by evicting the least recently used
 * assets, never one a job uses. Jobs get hard links to the cached files (a copy where the
 * job dir is on another file system); cached files are read-only.
 *
 * "In use" is counted twice: this process's jobs (until `release`), and any other hard
 * link to the file (a job of another host process sharing the cache).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Asset } from '../../domain/job.js';
import type { Logger } from '../../logger.js';
import { AssetAllowError, AssetAllowList } from './asset-allow.js';
import { download, DownloadError } from './download.js';
import { withFileLock } from './file-lock.js';

const SHA256 = /^[a-f0-9]{64}$/;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** An asset that cannot be had: download failed or checksum mismatch. The job aborts. */
export class AssetError extends Error {}

export interface AcquireOptions {
  signal?: AbortSignal;
  /** bytes downloaded so far (for heartbeats and logs) */
  onBytes?: (asset: Asset, total: number) => void;
}

/** What a host takes: where assets may come from, how large each and all of a job's may be. */
export interface AssetLimits {
  allow: AssetAllowList;
  maxBytes: number;
  maxJobBytes: number;
  /** free space the cache's disk keeps while downloading */
  minFreeBytes: number;
}

export const DEFAULT_ASSET_LIMITS: AssetLimits = {
  allow: new AssetAllowList(),
  maxBytes: 20 * 1024 ** 3,
  maxJobBytes: 40 * 1024 ** 3,
  minFreeBytes: 0,
};
const mib = (bytes: number) => `${Math.round((bytes / 1024 ** 2) * 10) / 10} MiB`;

export interface Acquired {
  /** the file in the cache */
  file: string;
  sizeBytes: number;
  /** false: a cache hit */
  downloaded: boolean;
  durationMs: number;
}

export interface Provided extends Acquired {
  name: string;
  /** where the job finds it */
  path: string;
}

/** The name an asset gets in the job's assets dir: its own, the URL's last segment, or its hash. */
export function assetName(asset: Asset): string {
  if (asset.name) return asset.name;
  const last = decodeURIComponent(new URL(asset.url).pathname.split('/').pop() ?? '');
  return SAFE_NAME.test(last) ? last : asset.sha256;
}

export class AssetCache {
  readonly dir: string;
  private readonly inflight = new Map<string, Promise<Omit<Acquired, 'durationMs'>>>();
  /** sha256 → ids of this process's jobs using it */
  private readonly users = new Map<string, Set<string>>();

  constructor(
    cacheDir: string,
    readonly maxBytes: number,
    private readonly log?: Logger,
    readonly limits: AssetLimits = DEFAULT_ASSET_LIMITS,
  ) {
    this.dir = path.join(cacheDir, 'assets');
  }

  fileOf(sha256: string): string {
    return path.join(this.dir, sha256);
  }

  /**
   * Makes sure the asset is in the cache and counts it as used by `jobId` until
   * `release(jobId)`. Concurrent callers for the same asset share one download.
   */
  async acquire(jobId: string, asset: Asset, options: AcquireOptions & { maxBytes?: number } = {}): Promise<Acquired> {
    const started = Date.now();
    if (!SHA256.test(asset.sha256)) throw new AssetError(`asset ${asset.url}: sha256 must be 64 lowercase hex digits`);
    // Before anything, a cache hit included: a job may only name what this host takes from there.
    try {
      this.limits.allow.check(new URL(asset.url));
    } catch (err) {
      throw new AssetError(err instanceof AssetAllowError ? err.message : `asset ${asset.url}: not a URL`);
    }
    const users = this.users.get(asset.sha256) ?? new Set();
    users.add(jobId);
    this.users.set(asset.sha256, users);
    try {
      for (;;) {
        try {
          return { ...(await this.ensure(asset, options)), durationMs: Date.now() - started };
        } catch (err) {
          // Another job's shared download was cancelled, not ours: try again ourselves.
          if ((err as Error).name === 'AbortError' && !options.signal?.aborted) continue;
          throw err;
        }
      }
    } catch (err) {
      this.forget(jobId, asset.sha256);
      throw err;
    }
  }

  /** Acquires every asset of a job and links it into `assetsDir`; returns name → details. */
  async provide(
    jobId: string,
    assets: readonly Asset[],
    assetsDir: string,
    options: AcquireOptions = {},
  ): Promise<Provided[]> {
    await fs.mkdir(assetsDir, { recursive: true });
    // The host's folder; the runner (maybe another user) reads it but cannot change it.
    await fs.chmod(assetsDir, 0o755);
    const names = assets.map(assetName);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new AssetError(`two assets would be named \`${twice}\`: give them distinct names`);
    const provided: Provided[] = [];
    let total = 0;
    for (const [i, asset] of assets.entries()) {
      const left = this.limits.maxJobBytes - total;
      const got = await this.acquire(jobId, asset, { ...options, maxBytes: Math.min(this.limits.maxBytes, left) });
      total += got.sizeBytes;
      if (total > this.limits.maxJobBytes)
        throw new AssetError(
          `the job's assets are more than the ${mib(this.limits.maxJobBytes)} this host takes for one job (TESTBAY_MAX_JOB_ASSET_BYTES)`,
        );
      const dest = path.join(assetsDir, names[i]!);
      await linkOrCopy(got.file, dest);
      provided.push({ ...got, name: names[i]!, path: dest });
    }
    return provided;
  }

  /** The job no longer uses its assets: they may be evicted. */
  release(jobId: string): void {
    for (const sha of [...this.users.keys()]) this.forget(jobId, sha);
  }

  isInUse(sha256: string): boolean {
    return (this.users.get(sha256)?.size ?? 0) > 0;
  }

  private forget(jobId: string, sha256: string): void {
    const users = this.users.get(sha256);
    users?.delete(jobId);
    if (users?.size === 0) this.users.delete(sha256);
  }

  private async ensure(
    asset: Asset,
    options: AcquireOptions & { maxBytes?: number },
  ): Promise<Omit<Acquired, 'durationMs'>> {
    const hit = await this.hit(asset.sha256);
    if (hit) return hit;
    const shared = this.inflight.get(asset.sha256);
    // Joined someone else's download: this job did not download it.
    if (shared) return { ...(await shared), downloaded: false };
    const own = this.fetch(asset, options).finally(() => this.inflight.delete(asset.sha256));
    this.inflight.set(asset.sha256, own);
    return own;
  }

  /** A cached file, marked as just used (its mtime is the LRU clock). */
  private async hit(sha256: string): Promise<Omit<Acquired, 'durationMs'> | undefined> {
    const file = this.fileOf(sha256);
    try {
      const now = new Date();
      await fs.utimes(file, now, now);
      return { file, sizeBytes: (await fs.stat(file)).size, downloaded: false };
    } catch {
      return undefined;
    }
  }

  private async fetch(
    asset: Asset,
    options: AcquireOptions & { maxBytes?: number },
  ): Promise<Omit<Acquired, 'durationMs'>> {
    await fs.mkdir(this.dir, { recursive: true });
    const file = this.fileOf(asset.sha256);
    return withFileLock(
      `${file}.lock`,
      async () => {
        // Another host process may have fetched it while we waited for the lock.
        const hit = await this.hit(asset.sha256);
        if (hit) return hit;
        const part = `${file}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
        try {
          const limits = {
            allow: this.limits.allow,
            maxBytes: options.maxBytes ?? this.limits.maxBytes,
            minFreeBytes: this.limits.minFreeBytes,
          };
          const got = await download(asset.url, part, limits, {
            ...(options.signal ? { signal: options.signal } : {}),
            onBytes: (total) => options.onBytes?.(asset, total),
          }).catch((err: unknown) => {
            if ((err as Error).name === 'AbortError') throw err;
            if (err instanceof AssetAllowError) throw new AssetError(err.message);
            const e = err as NodeJS.ErrnoException & { cause?: Error };
            const why = err instanceof DownloadError ? e.message : (e.cause?.message ?? e.code ?? e.message);
            throw new AssetError(`could not download asset ${asset.url}: ${why}`);
          });
          // Never the content's own hash: it would tell a job the checksum of a file it must not read.
          if (got.sha256 !== asset.sha256)
            throw new AssetError(
              `asset sha256 mismatch for ${asset.url}: its content does not have the sha256 ${asset.sha256}`,
            );
          await fs.chmod(part, 0o444);
          await fs.rename(part, file);
          this.log?.info('asset downloaded', { url: asset.url, sha256: asset.sha256, sizeBytes: got.sizeBytes });
          await this.evict();
          return { file, sizeBytes: got.sizeBytes, downloaded: true };
        } finally {
          await fs.rm(part, { force: true });
        }
      },
      options.signal,
    );
  }

  /** Evicts least recently used assets nobody uses until the cache fits its size limit. */
  async evict(): Promise<string[]> {
    const entries = [];
    for (const name of await fs.readdir(this.dir).catch(() => [] as string[])) {
      if (!SHA256.test(name)) continue;
      const stat = await fs.stat(path.join(this.dir, name)).catch(() => undefined);
      if (stat) entries.push({ sha256: name, sizeBytes: stat.size, usedAt: stat.mtimeMs, links: stat.nlink });
    }
    let total = entries.reduce((sum, e) => sum + e.sizeBytes, 0);
    const evicted: string[] = [];
    for (const e of entries.sort((a, b) => a.usedAt - b.usedAt)) {
      if (total <= this.maxBytes) break;
      if (this.isInUse(e.sha256) || e.links > 1) continue;
      await fs.rm(path.join(this.dir, e.sha256), { force: true });
      total -= e.sizeBytes;
      evicted.push(e.sha256);
    }
    if (evicted.length > 0)
      this.log?.info('evicted assets from the cache', { evicted, sizeBytes: total, maxBytes: this.maxBytes });
    if (total > this.maxBytes)
      this.log?.warn('asset cache above its size limit: the rest is in use', {
        sizeBytes: total,
        maxBytes: this.maxBytes,
      });
    return evicted;
  }
}

/** A hard link to the cached file, or a copy (a clone where the file system can) across file systems. */
async function linkOrCopy(file: string, dest: string): Promise<void> {
  await fs.rm(dest, { force: true });
  try {
    await fs.link(file, dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
    await fs.copyFile(file, dest, constants.COPYFILE_FICLONE);
  }
}

/** Removes the asset links job dirs still hold (a host that died mid-job), so evictions can free them. */
export async function dropStaleAssetLinks(workDir: string): Promise<void> {
  const jobsDir = path.join(workDir, 'jobs');
  for (const job of await fs.readdir(jobsDir).catch(() => [] as string[])) {
    await fs.rm(path.join(jobsDir, job, 'assets'), { recursive: true, force: true });
  }
}
