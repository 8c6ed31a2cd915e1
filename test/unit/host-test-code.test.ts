/**
 * The host's test code cache against real git repositories in a temp dir: clone once into
 * a mirror, then only fetch; the wanted ref checked out per job; clear errors.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { GitCache, redactUrl, TestCodeError } from '../../src/activities/host/test-code.js';

let dir: string;
let repo: string;
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();

async function commit(file: string, text: string): Promise<string> {
  await fs.writeFile(path.join(repo, file), text);
  git(repo, 'add', file);
  git(repo, 'commit', '--quiet', '-m', `${file}: ${text}`);
  return git(repo, 'rev-parse', 'HEAD');
}

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-git-'));
  repo = path.join(dir, 'tests-repo');
  await fs.mkdir(repo);
  git(repo, 'init', '--quiet', '-b', 'main');
});

describe('the test code cache', () => {
  it('clones a repository once, then only fetches, and checks out each job its ref', async () => {
    const first = await commit('suite.txt', 'v1');
    git(repo, 'tag', 'v1');
    const cache = new GitCache(path.join(dir, 'cache'), 60_000);

    const a = await cache.checkout({ git: repo, ref: 'main' }, path.join(dir, 'job-a', 'tests'));
    expect(a).toMatchObject({ commit: first, mirror: 'cloned' });
    expect(await fs.readFile(path.join(a.dir, 'suite.txt'), 'utf8')).toBe('v1');

    const second = await commit('suite.txt', 'v2');
    const b = await cache.checkout({ git: pathToFileURL(repo).href, ref: 'main' }, path.join(dir, 'job-b', 'tests'));
    expect(b.mirror).toBe('cloned'); // another URL spelling is another mirror
    const c = await cache.checkout({ git: repo, ref: 'main' }, path.join(dir, 'job-c', 'tests'));
    expect(c).toMatchObject({ commit: second, mirror: 'fetched' });
    expect(await fs.readFile(path.join(c.dir, 'suite.txt'), 'utf8')).toBe('v2');
    const d = await cache.checkout({ git: repo, ref: 'v1' }, path.join(dir, 'job-d', 'tests'));
    expect(d).toMatchObject({ commit: first, mirror: 'fetched' });
    expect(await fs.readFile(path.join(d.dir, 'suite.txt'), 'utf8')).toBe('v1');
    expect((await fs.readdir(cache.dir)).filter((n) => n.endsWith('.git'))).toHaveLength(2);
  });

  it('shares one clone between jobs that want the same repository at once', async () => {
    await commit('suite.txt', 'v1');
    const cache = new GitCache(path.join(dir, 'cache'), 60_000);
    const all = await Promise.all(
      [1, 2, 3].map((n) => cache.checkout({ git: repo, ref: 'HEAD' }, path.join(dir, `job-${n}`))),
    );
    expect(new Set(all.map((x) => x.commit)).size).toBe(1);
    expect((await fs.readdir(cache.dir)).filter((n) => n.endsWith('.git'))).toHaveLength(1);
  });

  it('a cancelled job does not take down the shared clone other jobs are waiting for', async () => {
    await commit('suite.txt', 'v1');
    const cache = new GitCache(path.join(dir, 'cache'), 60_000);
    const first = new AbortController();
    const cancelled = cache.checkout({ git: repo, ref: 'HEAD' }, path.join(dir, 'job-1'), first.signal);
    const others = [2, 3].map((n) => cache.checkout({ git: repo, ref: 'HEAD' }, path.join(dir, `job-${n}`)));
    // The job that started the clone is cancelled at once; the others wait on the same clone.
    first.abort();
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
    const done = await Promise.all(others);
    expect(done.map((c) => c.commit)).toEqual([done[0]!.commit, done[0]!.commit]);
    expect(await fs.readFile(path.join(dir, 'job-2', 'suite.txt'), 'utf8')).toBe('v1');
  });

  it("a job cancelled while it waits for another job's clone stops waiting", async () => {
    await commit('suite.txt', 'v1');
    const cache = new GitCache(path.join(dir, 'cache'), 60_000);
    const starter = cache.checkout({ git: repo, ref: 'HEAD' }, path.join(dir, 'job-1'));
    const waiter = new AbortController();
    const waiting = cache.checkout({ git: repo, ref: 'HEAD' }, path.join(dir, 'job-2'), waiter.signal);
    waiter.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    await expect(starter).resolves.toMatchObject({ mirror: 'cloned' });
  });

  it('says which ref is missing, or why the repository could not be cloned', async () => {
    await commit('suite.txt', 'v1');
    const cache = new GitCache(path.join(dir, 'cache'), 60_000);
    await expect(cache.checkout({ git: repo, ref: 'no-such-branch' }, path.join(dir, 'job'))).rejects.toThrow(
      new TestCodeError(`ref \`no-such-branch\` not found in ${repo}`),
    );
    const err = await cache
      .checkout({ git: path.join(dir, 'missing-repo'), ref: 'main' }, path.join(dir, 'job'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TestCodeError);
    expect((err as Error).message).toMatch(
      new RegExp(`^could not clone test code from ${path.join(dir, 'missing-repo')}: fatal: .*`),
    );
  });

  it('never shows a password of the repository URL', () => {
    expect(redactUrl('https://ci:s3cret@git.example.com/tests.git')).toBe('https://***@git.example.com/tests.git');
  });
});
