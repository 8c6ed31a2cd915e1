/**
 * The host's asset cache against a real HTTP server on the loopback and real files: one
 * download for many concurrent jobs (in one process, and across two sharing a cache dir),
 * sha256 checks, file URLs, and LRU eviction that never evicts an asset in use.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { AssetAllowList } from '../../src/activities/host/asset-allow.js';
import {
  AssetCache,
  AssetError,
  DEFAULT_ASSET_LIMITS,
  type AssetLimits,
} from '../../src/activities/host/asset-cache.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const blobs = new Map<string, Buffer>(['a', 'b', 'c', 'd'].map((n, i) => [`/${n}.img`, Buffer.alloc(1000 + i, n)]));
const requests = new Map<string, number>();
let server: http.Server;
let base: string;
let dir: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.set(req.url!, (requests.get(req.url!) ?? 0) + 1);
    const blob = blobs.get(req.url!);
    if (!blob) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': blob.length });
    // Slowly, so concurrent jobs overlap with the download.
    res.write(blob.subarray(0, 10));
    setTimeout(() => res.end(blob.subarray(10)), 300);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(async () => {
  requests.clear();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-assets-'));
});

const asset = (n: string) => ({ url: `${base}/${n}.img`, sha256: sha(blobs.get(`/${n}.img`)!) });
/** A cache that also takes file:// URLs under its test dir (and `more`). */
const withFiles = (more: Partial<AssetLimits> = {}, allow: string[] = []) =>
  new AssetCache(dir, 1e9, undefined, {
    ...DEFAULT_ASSET_LIMITS,
    allow: new AssetAllowList(['http://*', `${pathToFileURL(dir).href}/`, ...allow]),
    ...more,
  });

describe('the asset cache', () => {
  it('downloads an asset once for five jobs that want it at the same time, and links it into each job', async () => {
    const cache = new AssetCache(dir, 1e9);
    const jobs = ['j1', 'j2', 'j3', 'j4', 'j5'];
    const provided = await Promise.all(jobs.map((j) => cache.provide(j, [asset('a')], path.join(dir, j))));
    expect(requests.get('/a.img')).toBe(1);
    expect(provided.filter(([p]) => p!.downloaded)).toHaveLength(1);
    for (const [p] of provided) {
      expect(p!.path).toMatch(/\/j\d\/a\.img$/);
      expect(await fs.readFile(p!.path)).toEqual(blobs.get('/a.img'));
    }
    const cached = await fs.stat(cache.fileOf(asset('a').sha256));
    expect(cached.nlink).toBe(6);
    expect(cached.mode & 0o222).toBe(0);
  });

  it('downloads once when two host processes share the cache dir (lock file)', async () => {
    const [one, two] = [new AssetCache(dir, 1e9), new AssetCache(dir, 1e9)];
    const got = await Promise.all([one.acquire('j1', asset('b')), two.acquire('j2', asset('b'))]);
    expect(requests.get('/b.img')).toBe(1);
    expect(got.map((g) => g.downloaded).sort()).toEqual([false, true]);
    expect(await fs.readdir(path.join(dir, 'assets'))).toEqual([asset('b').sha256]);
  });

  it('serves a hit from the cache without a request', async () => {
    const cache = new AssetCache(dir, 1e9);
    expect((await cache.acquire('j1', asset('a'))).downloaded).toBe(true);
    expect((await cache.acquire('j2', asset('a'))).downloaded).toBe(false);
    expect(requests.get('/a.img')).toBe(1);
  });

  it('refuses an asset whose sha256 does not match, and keeps nothing of it', async () => {
    const cache = new AssetCache(dir, 1e9);
    const wrong = { url: `${base}/a.img`, sha256: 'f'.repeat(64) };
    const err = await cache.acquire('j1', wrong).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssetError);
    expect((err as Error).message).toBe(
      `asset sha256 mismatch for ${base}/a.img: its content does not have the sha256 ${'f'.repeat(64)}`,
    );
    expect((err as Error).message).not.toContain(asset('a').sha256);
    expect(await fs.readdir(path.join(dir, 'assets'))).toEqual([]);
    expect(cache.isInUse(wrong.sha256)).toBe(false);
  });

  it('says why a download failed (HTTP status, missing file)', async () => {
    const cache = withFiles({}, ['file:///nonexistent/']);
    await expect(cache.acquire('j1', { url: `${base}/nope.img`, sha256: 'a'.repeat(64) })).rejects.toThrow(
      `could not download asset ${base}/nope.img: HTTP 404 Not Found`,
    );
    await expect(cache.acquire('j1', { url: 'file:///nonexistent/x.iso', sha256: 'a'.repeat(64) })).rejects.toThrow(
      'could not download asset file:///nonexistent/x.iso: ENOENT',
    );
  });

  it('takes file:// URLs', async () => {
    const file = path.join(dir, 'local.iso');
    await fs.writeFile(file, 'an iso');
    const cache = withFiles();
    const [p] = await cache.provide(
      'j1',
      [{ url: pathToFileURL(file).href, sha256: sha(Buffer.from('an iso')) }],
      path.join(dir, 'job'),
    );
    expect(p!.name).toBe('local.iso');
    expect(await fs.readFile(p!.path, 'utf8')).toBe('an iso');
  });

  it('evicts the least recently used assets above its size limit, never one in use', async () => {
    const cache = new AssetCache(dir, 2500); // room for two of the ~1 kB assets
    await cache.acquire('keeps-b', asset('b')); // the oldest, but in use throughout
    await sleep(20);
    await cache.acquire('done-a', asset('a'));
    cache.release('done-a');
    await sleep(20);
    await cache.acquire('done-c', asset('c'));
    cache.release('done-c');
    const left = async () => (await fs.readdir(path.join(dir, 'assets'))).sort();
    expect(await left()).toEqual([asset('b').sha256, asset('c').sha256].sort());

    await sleep(20);
    await cache.acquire('done-d', asset('d')); // c is now the least recently used that is free
    expect(await left()).toEqual([asset('b').sha256, asset('d').sha256].sort());

    // A hard link held by another process's job counts as in use too.
    cache.release('keeps-b');
    cache.release('done-d');
    await fs.link(cache.fileOf(asset('b').sha256), path.join(dir, 'other-host-job-link'));
    await sleep(20);
    await cache.acquire('done-a2', asset('a'));
    expect(await left()).toEqual([asset('a').sha256, asset('b').sha256].sort());
  });
});

describe('what a host takes as an asset', () => {
  const wrong = 'e'.repeat(64);
  const refused = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('accepted');
      },
      (err: unknown) => (err as Error).message,
    );

  it("takes no file:// URL unless allowed, and never answers with a file's hash", async () => {
    const cache = new AssetCache(dir, 1e9);
    expect(await refused(cache.acquire('j1', { url: 'file:///etc/shadow', sha256: wrong }))).toBe(
      'asset file:///etc/shadow is not allowed on this host (assets.allow: https://*, http://*)',
    );
    // Allowed: the mismatch still says nothing of the content.
    const shadow = await refused(
      withFiles({}, ['file:///etc/']).acquire('j1', { url: 'file:///etc/passwd', sha256: wrong }),
    );
    expect(shadow).toBe(`asset sha256 mismatch for file:///etc/passwd: its content does not have the sha256 ${wrong}`);
    expect(shadow).not.toContain(sha(await fs.readFile('/etc/passwd')));
  });

  it('takes only regular files: no device, FIFO or folder', async () => {
    const cache = withFiles({}, ['file:///dev/']);
    expect(await refused(cache.acquire('j1', { url: 'file:///dev/zero', sha256: wrong }))).toBe(
      'could not download asset file:///dev/zero: not a regular file',
    );
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(await refused(cache.acquire('j1', { url: pathToFileURL(fifo).href, sha256: wrong }))).toMatch(
      /not a regular file$/,
    );
    await fs.mkdir(path.join(dir, 'folder'));
    expect(
      await refused(cache.acquire('j1', { url: pathToFileURL(path.join(dir, 'folder')).href, sha256: wrong })),
    ).toMatch(/not a regular file$/);
  });

  it('follows no link out of an allowed folder, and no redirect to a host it does not allow', async () => {
    await fs.symlink('/etc/passwd', path.join(dir, 'passwd-link'));
    expect(
      await refused(
        withFiles().acquire('j1', { url: pathToFileURL(path.join(dir, 'passwd-link')).href, sha256: wrong }),
      ),
    ).toBe(
      'asset (resolved) file:///etc/passwd is not allowed on this host (assets.allow: http://*, ' +
        pathToFileURL(dir).href +
        '/)',
    );
    const redirector = http.createServer((_req, res) =>
      res.writeHead(302, { location: 'https://127.0.0.1:1/elsewhere' }).end(),
    );
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/go`;
      expect(
        await refused(
          new AssetCache(dir, 1e9, undefined, {
            ...DEFAULT_ASSET_LIMITS,
            allow: new AssetAllowList(['http://127.0.0.1']),
          }).acquire('j1', { url, sha256: wrong }),
        ),
      ).toBe(
        'asset redirect to https://127.0.0.1:1/elsewhere is not allowed on this host (assets.allow: http://127.0.0.1)',
      );
    } finally {
      await new Promise((resolve) => redirector.close(resolve));
    }
  });

  it('stops at the size limit of an asset and of a job, and keeps the free space it must', async () => {
    expect(await refused(withFiles({ maxBytes: 500 }).acquire('j1', asset('a')))).toMatch(
      /larger than the 0 MiB this host takes \(TESTBAY_MAX_ASSET_BYTES/,
    );
    expect(await fs.readdir(path.join(dir, 'assets'))).toEqual([]);
    expect(
      await refused(withFiles({ maxJobBytes: 1500 }).provide('j1', [asset('a'), asset('b')], path.join(dir, 'job'))),
    ).toMatch(/TESTBAY_MAX_JOB_ASSET_BYTES|TESTBAY_MAX_ASSET_BYTES/);
    // More than the whole disk: never there, however the machine's other users fill or free it.
    const disk = await fs.statfs(dir);
    expect(await refused(withFiles({ minFreeBytes: disk.blocks * disk.bsize + 1 }).acquire('j1', asset('c')))).toMatch(
      /not enough free space on the host's cache disk/,
    );
  });
});
