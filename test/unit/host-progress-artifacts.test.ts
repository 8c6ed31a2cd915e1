/**
 * The runner's status lines (parsing, following a file only by complete lines) and
 * artifact uploads that resume after an API error without sending a file twice.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestbayClient } from '../../src/api/client.js';
import { ArtifactSync } from '../../src/activities/host/artifact-sync.js';
import { parseProgressLine, ProgressFile, type ProgressLine } from '../../src/activities/host/progress.js';
import { createLogger } from '../../src/logger.js';

describe('a status line', () => {
  it('carries progress, an abort or a finished test; anything else is ignored', () => {
    expect(parseProgressLine('{"module": "boot", "percent": 20}')).toEqual({
      progress: { module: 'boot', percent: 20 },
    });
    expect(parseProgressLine('{"module": "boot", "abort": "no network"}')).toEqual({
      progress: { module: 'boot' },
      abort: 'no network',
    });
    expect(
      parseProgressLine('{"test": {"name": "login", "status": "failed", "durationMs": 12.4, "message": "timeout"}}'),
    ).toEqual({
      test: { name: 'login', status: 'failed', durationMs: 12, message: 'timeout' },
    });
    expect(parseProgressLine('{"test": {"name": "login", "status": "weird"}}')).toBeUndefined();
    expect(parseProgressLine('{"percent": 120}')).toBeUndefined();
    expect(parseProgressLine('not json')).toBeUndefined();
    expect(parseProgressLine('[1, 2]')).toBeUndefined();
  });
});

describe('a progress file', () => {
  it('yields complete lines only, in order, across reads', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-progress-'));
    const lines: ProgressLine[] = [];
    const file = new ProgressFile(path.join(dir, 'progress.jsonl'), (l) => lines.push(l));
    await file.start();
    await fs.appendFile(file.file, '{"module": "a"}\n{"module": "b", "perc');
    await file.read();
    expect(lines).toEqual([{ progress: { module: 'a' } }]);
    await fs.appendFile(file.file, 'ent": 50}\nnoise\n{"test": {"name": "t", "status": "passed"}}\n');
    await file.close();
    expect(lines).toEqual([
      { progress: { module: 'a' } },
      { progress: { module: 'b', percent: 50 } },
      { test: { name: 't', status: 'passed' } },
    ]);
  });
});

describe('artifact upload', () => {
  async function jobDirWith(files: Record<string, string>) {
    const jobDir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-artifacts-'));
    for (const [name, text] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(jobDir, 'results', name)), { recursive: true });
      await fs.writeFile(path.join(jobDir, 'results', name), text);
    }
    return jobDir;
  }
  /** An API that stores uploads, and fails the n-th one once. */
  function fakeApi(failAt?: number) {
    const uploads: string[] = [];
    let calls = 0;
    const api = {
      putArtifact: async (_job: string, _lease: string, name: string, body: Buffer | (() => NodeJS.ReadableStream)) => {
        calls++;
        // a function opens the file afresh for each try (a failover sends it again)
        for await (const _ of typeof body === 'function' ? body() : [body]) void _;
        if (calls === failAt) throw new Error('ECONNRESET');
        uploads.push(name);
        return { name, sizeBytes: 0 };
      },
    };
    return { api: api as unknown as TestbayClient, uploads };
  }
  const log = createLogger('test', 'error');
  const job = { jobId: 's.1', leaseToken: 'lease' };

  it('resumes after an API error without sending what is already up', async () => {
    const jobDir = await jobDirWith({ 'a.txt': 'a', 'b.txt': 'b', 'shots/c.png': 'c' });
    const first = fakeApi(2);
    await expect(new ArtifactSync(first.api, job, jobDir, undefined, log).sync({ final: true })).rejects.toThrow(
      'ECONNRESET',
    );
    expect(first.uploads).toEqual(['a.txt']);
    const retry = fakeApi();
    const sync = new ArtifactSync(retry.api, job, jobDir, undefined, log);
    expect(await sync.sync({ final: true })).toBe(2);
    expect(retry.uploads).toEqual(['b.txt', 'shots/c.png']);
    expect(await sync.totals()).toEqual({ artifacts: 3, bytes: 3, savedBytes: 0 });
    // A file that changed goes up again; the others do not.
    await fs.writeFile(path.join(jobDir, 'results', 'a.txt'), 'a, longer now');
    expect(await sync.sync({ final: true })).toBe(1);
    expect(retry.uploads).toEqual(['b.txt', 'shots/c.png', 'a.txt']);
  });

  it('while the runner runs, sends a file only once it stood still for one pass', async () => {
    const jobDir = await jobDirWith({ 'shot.png': 'half' });
    const { api, uploads } = fakeApi();
    const sync = new ArtifactSync(api, job, jobDir, undefined, log);
    await sync.sync({ final: false });
    expect(uploads).toEqual([]);
    await fs.appendFile(path.join(jobDir, 'results', 'shot.png'), ' and the rest');
    await sync.sync({ final: false });
    expect(uploads).toEqual([]);
    await sync.sync({ final: false });
    expect(uploads).toEqual(['shot.png']);
  });
});
