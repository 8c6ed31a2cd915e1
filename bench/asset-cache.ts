/**
 * bench/asset-cache: a host's asset cache with a 100 MB asset — a miss (download over HTTP
 * on the loopback, or a file:// copy, hashed with sha256 as it streams) against a hit
 * (found by its hash, linked into the job's dir). Also the event loop's worst delay
 * during a miss, to show hashing 100 MB does not block it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { AssetCache, DEFAULT_ASSET_LIMITS } from '../src/activities/host/asset-cache.js';
import { AssetAllowList } from '../src/activities/host/asset-allow.js';
import { median, round, writeResult } from './harness.js';

const SIZE_MB = Number(process.env.ASSET_MB ?? 100);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-bench-assets-'));
const file = path.join(dir, 'disk.img');
const hash = createHash('sha256');
const handle = await fs.open(file, 'w');
for (let i = 0; i < SIZE_MB; i++) {
  const chunk = randomBytes(1024 * 1024);
  hash.update(chunk);
  await handle.write(chunk);
}
await handle.close();
const sha256 = hash.digest('hex');

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-length': SIZE_MB * 1024 * 1024 });
  createReadStream(file).pipe(res);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk.img`;

async function measure(url: string, round: number) {
  const cacheDir = path.join(dir, `cache-${round}-${url.slice(0, 4)}`);
  const cache = new AssetCache(cacheDir, 10 * 1024 ** 3, undefined, {
    ...DEFAULT_ASSET_LIMITS,
    allow: new AssetAllowList(['http://*', pathToFileURL(dir).href]),
  });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let t = performance.now();
  const [miss] = await cache.provide('job-1', [{ url, sha256, name: 'disk.img' }], path.join(dir, `job-1-${round}`));
  const missMs = performance.now() - t;
  delay.disable();
  t = performance.now();
  const [hit] = await cache.provide('job-2', [{ url, sha256, name: 'disk.img' }], path.join(dir, `job-2-${round}`));
  const hitMs = performance.now() - t;
  if (!miss!.downloaded || hit!.downloaded) throw new Error('expected a miss, then a hit');
  await fs.rm(cacheDir, { recursive: true, force: true });
  return { missMs, hitMs, maxLoopDelayMs: delay.max / 1e6 };
}

try {
  const results: Record<string, { missMs: number; hitMs: number; maxLoopDelayMs: number }> = {};
  for (const [label, url] of [
    ['http', httpUrl],
    ['file', pathToFileURL(file).href],
  ] as const) {
    const runs = [];
    for (let r = 0; r < ROUNDS; r++) runs.push(await measure(url, r));
    results[label] = {
      missMs: round(median(runs.map((x) => x.missMs))),
      hitMs: round(median(runs.map((x) => x.hitMs)), 2),
      maxLoopDelayMs: round(Math.max(...runs.map((x) => x.maxLoopDelayMs))),
    };
  }
  console.log(`asset-cache: one ${SIZE_MB} MB asset, median of ${ROUNDS} rounds`);
  for (const [label, r] of Object.entries(results)) {
    console.log(
      `  ${label.padEnd(4)} miss ${r.missMs} ms (download + sha256 + link), hit ${r.hitMs} ms (lookup + link); worst event-loop delay during a miss ${r.maxLoopDelayMs} ms`,
    );
  }
  console.log(`  written to ${await writeResult('asset-cache', { sizeMB: SIZE_MB, rounds: ROUNDS, ...results })}`);
} catch (err) {
  process.exitCode = 1;
  console.error(err);
} finally {
  server.close();
  await fs.rm(dir, { recursive: true, force: true });
}
// Nothing left behind (a keep-alive socket of the loopback server) may keep the bench alive.
process.exit();
