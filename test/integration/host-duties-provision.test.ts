/**
 * Provisioning on a real lab: assets downloaded into the host's cache with their sha256
 * checked (one download when two hosts sharing a cache want the same asset at once; a
 * hit the next time; a mismatch aborts the job saying so), and test code cloned once into
 * the host's git cache, then only fetched, checked out at the job's ref.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestLab } from '../helpers/lab.js';

let lab: TestLab;
let server: http.Server;
let base: string;
const requests = new Map<string, number>();
const disk = Buffer.alloc(256 * 1024, 'disk image ');
const diskSha = createHash('sha256').update(disk).digest('hex');
let repo: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.set(req.url!, (requests.get(req.url!) ?? 0) + 1);
    if (req.url !== '/disk.img' && req.url !== '/disk2.img') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': disk.length });
    res.write(disk.subarray(0, 1024));
    setTimeout(() => res.end(disk.subarray(1024)), 1_500); // slow: both jobs overlap
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  lab = await TestLab.start({ name: 'provision', hosts: [] });
  // Assets over http from anywhere, and local files from the lab dir only.
  const shared = {
    TESTBAY_CACHE_DIR: path.join(lab.dir, 'machine-cache'),
    TESTBAY_ASSETS_ALLOW: `http://*,${pathToFileURL(lab.dir).href}/`,
  };
  await Promise.all([
    lab.startHost({ id: 'p1', caps: { slot: 'p1' }, env: shared }),
    lab.startHost({ id: 'p2', caps: { slot: 'p2' }, env: shared }),
  ]);
  repo = path.join(lab.dir, 'suite-repo');
  await fs.mkdir(repo);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo });
  git('init', '--quiet', '-b', 'main');
  await fs.writeFile(path.join(repo, 'suite.txt'), 'suite v1\n');
  git('add', '.');
  git('commit', '--quiet', '-m', 'v1');
});
afterAll(async () => {
  await lab?.stop();
  await new Promise((resolve) => server.close(resolve));
});

const sums = ['sh', '-c', 'cat "$TESTBAY_ASSETS_DIR"/* | sha256sum'];
const job = (name: string, slot: string, extra: Record<string, unknown>) => ({
  name,
  workerClass: 'local',
  runner: { command: sums },
  hostRequires: [`slot == ${slot}`],
  ...extra,
});

describe('a job with assets', () => {
  it('gets them checked and linked; two hosts sharing a cache download once; the next job hits the cache', async () => {
    const asset = { url: `${base}/disk.img`, sha256: diskSha };
    const { id, jobs } = await lab.submit({
      jobs: [job('left', 'p1', { assets: [asset], parallelWith: ['right'] }), job('right', 'p2', { assets: [asset] })],
    });
    const view = await lab.waitForSubmission(id);
    expect(view.jobs.map((j) => j.result)).toEqual([{ kind: 'passed' }, { kind: 'passed' }]);
    expect(requests.get('/disk.img')).toBe(1);
    const logs = await Promise.all(jobs.map((j) => lab.api.log(j.id)));
    for (const log of logs) expect(log).toContain(diskSha);
    expect(logs.filter((l) => /testbay: asset disk\.img: downloaded, 0\.3 MiB/.test(l))).toHaveLength(1);

    const again = await lab.run({ jobs: [job('again', 'p1', { assets: [{ ...asset, name: 'renamed.img' }] })] });
    expect(again.result).toBe('passed');
    expect(requests.get('/disk.img')).toBe(1);
    expect(await lab.api.log(again.jobs[0]!.id)).toMatch(/testbay: asset renamed\.img: cache hit/);
    expect(await fs.readdir(path.join(lab.dir, 'machine-cache', 'assets'))).toEqual([diskSha]);
  });

  it('takes file:// URLs', async () => {
    const file = path.join(lab.dir, 'local.iso');
    await fs.writeFile(file, 'a small iso');
    const sha = createHash('sha256').update('a small iso').digest('hex');
    const view = await lab.run({
      jobs: [job('local-file', 'p2', { assets: [{ url: pathToFileURL(file).href, sha256: sha }] })],
    });
    expect(view.result).toBe('passed');
    expect(await lab.api.log(view.jobs[0]!.id)).toContain(sha);
  });

  it("is aborted with the reason when an asset's sha256 does not match, never saying the content's own", async () => {
    const wrong = 'a'.repeat(64);
    const view = await lab.run({
      jobs: [job('mismatch', 'p1', { assets: [{ url: `${base}/disk2.img`, sha256: wrong }] })],
    });
    expect(view.jobs[0]!.result).toEqual({
      kind: 'aborted',
      cause: 'asset',
      reason: `asset sha256 mismatch for ${base}/disk2.img: its content does not have the sha256 ${wrong}`,
    });
    expect(await lab.api.log(view.jobs[0]!.id)).not.toContain(diskSha);
  });
});

describe('a job with test code', () => {
  const show = ['sh', '-c', 'cat "$TESTBAY_TESTS_DIR/suite.txt"; git -C "$TESTBAY_TESTS_DIR" rev-parse HEAD'];
  const tests = (name: string, ref: string) => ({
    name,
    workerClass: 'local',
    runner: { command: show },
    hostRequires: ['slot == p2'],
    tests: { git: repo, ref },
  });

  it('gets it checked out at its ref; the host clones once and then only fetches', async () => {
    const first = await lab.run({ jobs: [tests('t1', 'main')] });
    expect(first.result).toBe('passed');
    const log1 = await lab.api.log(first.jobs[0]!.id);
    expect(log1).toMatch(/testbay: tests .* at main: [0-9a-f]{40} \(cloned into the cache/);
    expect(log1).toContain('suite v1');

    await fs.writeFile(path.join(repo, 'suite.txt'), 'suite v2\n');
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '--quiet', '-am', 'v2'], {
      cwd: repo,
    });
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
    const second = await lab.run({ jobs: [tests('t2', 'main')] });
    const log2 = await lab.api.log(second.jobs[0]!.id);
    expect(log2).toContain(`at main: ${head} (cache fetched`);
    expect(log2).toContain('suite v2');
  });

  it('is aborted with cause test-code when its ref does not exist', async () => {
    const view = await lab.run({ jobs: [tests('t3', 'no-such-branch')] });
    expect(view.jobs[0]!.result).toEqual({
      kind: 'aborted',
      cause: 'test-code',
      reason: `ref \`no-such-branch\` not found in ${repo}`,
    });
  });
});
