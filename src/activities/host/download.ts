/**
 * @module Downloads one URL (http, https or file) to a local file, hashing it with sha256
 * as the bytes stream through: no second read of a large file, and the event loop only
 * ever handles one chunk at a time.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

export interface Downloaded {
  sha256: string;
  sizeBytes: number;
}

export class DownloadError extends Error {}

async function open(url: URL, signal: AbortSignal | undefined): Promise<Readable> {
  if (url.protocol === 'file:') return createReadStream(fileURLToPath(url));
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DownloadError(`unsupported URL scheme ${url.protocol}`);
  const res = await fetch(url, { redirect: 'follow', ...(signal ? { signal } : {}) });
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw new DownloadError(`HTTP ${res.status} ${res.statusText}`.trim());
  }
  return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
}

/** Streams `url` into `dest` and returns the content's sha256 (hex) and size. */
export async function download(url: string, dest: string, options: { signal?: AbortSignal; onBytes?: (total: number) => void } = {}): Promise<Downloaded> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DownloadError(`not a URL: ${url}`);
  }
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      sizeBytes += chunk.length;
      options.onBytes?.(sizeBytes);
      done(null, chunk);
    },
  });
  const source = await open(parsed, options.signal);
  await pipeline(source, hashing, createWriteStream(dest), ...(options.signal ? [{ signal: options.signal }] : []));
  return { sha256: hash.digest('hex'), sizeBytes };
}
