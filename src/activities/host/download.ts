/**
 * @module Downloads one URL (http, https or file) to a local file, hashing it with sha256
 * as the bytes stream through: no second read of a large file, and the event loop only
 * ever handles one chunk at a time. Within limits: only URLs the host's allow-list takes
 * (redirects included), at most `maxBytes`, never below `minFreeBytes` free on the disk,
 * and for `file://` only a regular file (not a device, a FIFO or a folder) whose real path
 * is allowed too.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AssetAllowList } from './asset-allow.js';

export interface Downloaded {
  sha256: string;
  sizeBytes: number;
}

export class DownloadError extends Error {}

export interface DownloadLimits {
  allow: AssetAllowList;
  /** the largest download; past it the download stops */
  maxBytes: number;
  /** free space the disk keeps: checked before and while downloading */
  minFreeBytes: number;
}

const MAX_REDIRECTS = 5;
/** How often (bytes written) the free space is checked again. */
const FREE_CHECK_EVERY = 64 * 1024 ** 2;
const mib = (bytes: number) => `${Math.round((bytes / 1024 ** 2) * 10) / 10} MiB`;

async function openFile(url: URL, limits: DownloadLimits): Promise<{ stream: Readable; sizeBytes: number }> {
  const handle = await fs
    .open(fileURLToPath(url), constants.O_RDONLY | constants.O_NONBLOCK)
    .catch((err: NodeJS.ErrnoException) => {
      throw new DownloadError(err.code ?? err.message);
    });
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new DownloadError('not a regular file');
    // What was opened, links resolved, must be allowed too.
    const real = await fs.readlink(`/proc/self/fd/${handle.fd}`).catch(() => fs.realpath(fileURLToPath(url)));
    limits.allow.check(pathToFileURL(real), 'asset (resolved)');
    return { stream: handle.createReadStream({ start: 0, end: Math.max(0, stat.size - 1) }), sizeBytes: stat.size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

async function openHttp(
  url: URL,
  limits: DownloadLimits,
  signal: AbortSignal | undefined,
): Promise<{ stream: Readable; sizeBytes?: number }> {
  let current = url;
  for (let hops = 0; ; hops++) {
    limits.allow.check(current, hops === 0 ? 'asset' : 'asset redirect to');
    // Redirects are followed here, each one checked against the allow-list.
    const res = await fetch(current, { redirect: 'manual', ...(signal ? { signal } : {}) });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel().catch(() => undefined);
      if (hops >= MAX_REDIRECTS) throw new DownloadError(`more than ${MAX_REDIRECTS} redirects`);
      current = new URL(location, current);
      continue;
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw new DownloadError(`HTTP ${res.status} ${res.statusText}`.trim());
    }
    const length = Number(res.headers.get('content-length') ?? NaN);
    return {
      stream: Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
      ...(Number.isFinite(length) ? { sizeBytes: length } : {}),
    };
  }
}

async function freeBytes(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return s.bavail * s.bsize;
}

/** Streams `url` into `dest` and returns the content's sha256 (hex) and size. */
export async function download(
  url: string,
  dest: string,
  limits: DownloadLimits,
  options: { signal?: AbortSignal; onBytes?: (total: number) => void } = {},
): Promise<Downloaded> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DownloadError(`not a URL: ${url}`);
  }
  if (!['file:', 'http:', 'https:'].includes(parsed.protocol))
    throw new DownloadError(`unsupported URL scheme ${parsed.protocol}`);
  limits.allow.check(parsed);
  const source =
    parsed.protocol === 'file:' ? await openFile(parsed, limits) : await openHttp(parsed, limits, options.signal);
  const dir = path.dirname(dest);
  const tooLarge = (size: number) =>
    new DownloadError(
      `it is larger than the ${mib(limits.maxBytes)} this host takes (TESTBAY_MAX_ASSET_BYTES; ${mib(size)} or more)`,
    );
  const noRoom = (free: number) =>
    new DownloadError(
      `not enough free space on the host's cache disk (${mib(free)} free, TESTBAY_MIN_FREE_BYTES keeps ${mib(limits.minFreeBytes)})`,
    );
  if (source.sizeBytes !== undefined) {
    if (source.sizeBytes > limits.maxBytes) {
      source.stream.destroy();
      throw tooLarge(source.sizeBytes);
    }
    const free = await freeBytes(dir);
    if (free - source.sizeBytes < limits.minFreeBytes) {
      source.stream.destroy();
      throw noRoom(free);
    }
  }
  const hash = createHash('sha256');
  let sizeBytes = 0;
  let checkedAt = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sizeBytes += chunk.length;
      if (sizeBytes > limits.maxBytes) return done(tooLarge(sizeBytes));
      hash.update(chunk);
      options.onBytes?.(sizeBytes);
      if (sizeBytes - checkedAt < FREE_CHECK_EVERY) return done(null, chunk);
      checkedAt = sizeBytes;
      freeBytes(dir).then(
        (free) => (free < limits.minFreeBytes ? done(noRoom(free)) : done(null, chunk)),
        () => done(null, chunk),
      );
    },
  });
  await pipeline(
    source.stream,
    hashing,
    (await fs.open(dest, 'wx', 0o600)).createWriteStream(),
    ...(options.signal ? [{ signal: options.signal }] : []),
  );
  return { sha256: hash.digest('hex'), sizeBytes };
}
