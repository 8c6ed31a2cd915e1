/**
 * Attacks on a lab host by a submitter with a submit token only (issue 18, items 2, 3, 5, 6
 * and the host's part of the low ones), each against a real lab (hosts as `testbay host`
 * processes, a real Temporal dev server), each now failing safely:
 * - a 500 MB JUnit file (and too many testcases) aborts the job `results-too-large`, the
 *   job's fault: the host stays online, idle and never broken;
 * - 4,000 tests of 9 kB each are uploaded (messages cut, saying so), the job passes;
 * - a 300 MB log is uploaded whole and the job passes (not `host-lost`); a job cancelled
 *   while writing 1 GB ends `cancelled`, its log cut at TESTBAY_MAX_LOG_BYTES with a marker;
 *   the API serves a log's tail and ranges of it;
 * - assets: `file:///etc/shadow` with a wrong sha256 is refused (not allowed), and where
 *   file URLs are allowed the mismatch never says the file's hash; `/dev/zero` is refused
 *   at once (not a regular file);
 * - a test code ref that git would take for an option is refused.
 * Limits are set small per host (environment), never in the product.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/api/client.js';
import { TestLab, waitFor } from '../helpers/lab.js';

const MiB = 1024 ** 2;
let lab: TestLab;

beforeAll(async () => {
  // Artifacts above 16 MiB are refused by the API: the 500 MB file is not stored.
  lab = await TestLab.start({ name: 'attacks', hosts: [], env: { TESTBAY_MAX_ARTIFACT_BYTES: String(16 * MiB) } });
  await Promise.all([
    // The product's default limits (64 MiB of JUnit/TAP, 100,000 testcases, http(s) assets only).
    lab.startHost({ id: 'res', classes: ['res'] }),
    // A log cap above 300 MB, to upload such a log whole.
    lab.startHost({ id: 'big', classes: ['big'], env: { TESTBAY_MAX_LOG_BYTES: String(400 * MiB) } }),
    // Small caps.
    lab.startHost({
      id: 'cap',
      classes: ['cap'],
      env: { TESTBAY_MAX_LOG_BYTES: String(MiB), TESTBAY_MAX_TESTCASES: '1000' },
    }),
    // Local files from /etc and /dev are allowed here: the oracle and the disk filler.
    lab.startHost({ id: 'files', classes: ['files'], env: { TESTBAY_ASSETS_ALLOW: 'file:///etc/,file:///dev/' } }),
  ]);
});
afterAll(async () => {
  await lab?.stop();
});

const sh = (name: string, workerClass: string, script: string, extra: Record<string, unknown> = {}) => ({
  name,
  workerClass,
  runner: { command: ['sh', '-c', script] },
  timeoutMs: 120_000,
  ...extra,
});

async function expectHostFine(hostId: string): Promise<void> {
  const host = await waitFor(
    `host ${hostId} idle`,
    async () => {
      const h = await lab.host(hostId);
      return h?.state === 'idle' ? h : undefined;
    },
    10_000,
  );
  expect(host.online).toBe(true);
  expect(lab.hosts.get(hostId)!.exitCode).toBeNull();
  const after = await lab.run({ jobs: [sh('after', hostId === 'res' ? 'res' : hostId, 'echo still here')] });
  expect(after.result).toBe('passed');
}

describe('results a host cannot be stopped by', () => {
  it('a 500 MB JUnit file aborts the job results-too-large, three times in a row, and leaves the host online, idle and not broken', async () => {
    const big = String.raw`printf '<?xml version="1.0"?>\n<testsuites><testsuite name="big">\n' > "$TESTBAY_RESULTS_DIR/junit.xml"; truncate -s 500M "$TESTBAY_RESULTS_DIR/junit.xml"; sleep 1`;
    const started = Date.now();
    const view = await lab.run(
      { jobs: [sh('big-1', 'res', big), sh('big-2', 'res', big), sh('big-3', 'res', big)] },
      90_000,
    );
    for (const job of view.jobs) {
      expect(job.result).toMatchObject({ kind: 'aborted', cause: 'results-too-large' });
      expect(job.result?.kind === 'aborted' && job.result.reason).toMatch(
        /^results too large: JUnit\/TAP files of 500 MiB or more \(at junit\.xml\), above TESTBAY_MAX_RESULTS_BYTES \(64 MiB\)$/,
      );
    }
    expect(Date.now() - started).toBeLessThan(60_000);
    // The job's fault, never the host's: three in a row break nothing.
    expect((await lab.host('res'))!.state).not.toBe('broken');
    await expectHostFine('res');
  });

  it('too many testcases abort the job results-too-large; TAP files are results too', async () => {
    const many = String.raw`i=0; while [ $i -le 1000 ]; do i=$((i+1)); echo "ok $i - t$i"; done > "$TESTBAY_RESULTS_DIR/many.tap"`;
    const tooMany = await lab.run({ jobs: [sh('many', 'cap', many)] });
    expect(tooMany.jobs[0]!.result).toEqual({
      kind: 'aborted',
      cause: 'results-too-large',
      reason: 'results too large: more than 1000 testcases (at many.tap), above TESTBAY_MAX_TESTCASES',
    });

    const tap = String.raw`printf 'TAP version 13\n1..3\nok 1 - boots\nnot ok 2 - logs in\n  ---\n  message: "no prompt"\n  ...\nok 3 - desktop # SKIP no display\n' > "$TESTBAY_RESULTS_DIR/os.tap"`;
    const view = await lab.run({ jobs: [sh('tap', 'res', tap)] });
    expect(view.jobs[0]!.result).toEqual({ kind: 'failed', reason: '1 of 3 tests failed: `logs in`' });
    expect((await lab.api.job(view.jobs[0]!.id)).tests).toEqual([
      { name: 'boots', classname: 'os', status: 'passed' },
      { name: 'logs in', classname: 'os', status: 'failed', message: 'message: "no prompt"' },
      { name: 'desktop', classname: 'os', status: 'skipped', message: 'SKIP no display' },
    ]);
  });

  it('4,000 tests of 9 kB each are all uploaded, their messages cut to fit, and the job passes', async () => {
    const report = `const m = 'x'.repeat(9000); for (let i = 0; i < 4000; i++) require('fs').writeSync(3, JSON.stringify({ test: { name: 't' + i, status: 'passed', message: m } }) + '\\n');`;
    const view = await lab.run(
      {
        jobs: [
          {
            name: 'many-tests',
            workerClass: 'res',
            runner: { command: [process.execPath, '-e', report] },
            timeoutMs: 120_000,
          },
        ],
      },
      90_000,
    );
    expect(view.jobs[0]!.result).toEqual({ kind: 'passed' });
    const { tests } = await lab.api.job(view.jobs[0]!.id);
    expect(tests).toHaveLength(4000);
    expect(tests[0]!.message).toMatch(
      /^x+ … \[cut by testbay: \d+ of 9000 characters kept so the results fit one upload\]$/,
    );
  });
});

describe('large logs', () => {
  it('a runner that writes 300 MB and exits 0 passes, its whole log uploaded; the API serves its tail from a line start', async () => {
    const view = await lab.run(
      { jobs: [sh('loud', 'big', 'yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 300000000')] },
      120_000,
    );
    expect(view.jobs[0]!.result).toEqual({ kind: 'passed' });
    const id = view.jobs[0]!.id;
    const tail = await lab.submitter.logPart(id, { tail: 1000 });
    expect(tail.size).toBe(300_000_000);
    expect(tail.end).toBe(300_000_000);
    expect(tail.start).toBeGreaterThan(300_000_000 - 1000);
    expect(tail.text.split('\n')[0]).toBe('0123456789abcdefghijklmnopqrstuvwxyz');
    expect(tail.text.length).toBe(tail.end - tail.start);
    const range = await lab.submitter.logPart(id, { start: 37, end: 74 });
    expect(range.text).toBe('0123456789abcdefghijklmnopqrstuvwxyz\n');
    const earlier = await lab.submitter.logPart(id, { end: tail.start, tail: 100 });
    expect(earlier.end).toBe(tail.start);
    expect(earlier.text.endsWith('\n')).toBe(true);
    // Ranges are byte counts: anything else is 400.
    await expect(lab.submitter.logPart(id, { start: -1 })).rejects.toBeInstanceOf(ApiError);
  });

  it('a job cancelled while writing 1 GB ends cancelled, its log cut at TESTBAY_MAX_LOG_BYTES with a marker', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [sh('flood', 'cap', 'yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 1000000000; sleep 60')],
    });
    const jobId = jobs[0]!.id;
    await waitFor(
      'the log to reach its cap',
      async () => (await lab.submitter.logPart(jobId, { tail: 500 })).text.includes('TESTBAY_MAX_LOG_BYTES'),
      60_000,
      250,
    );
    await lab.submitter.cancelSubmission(id, 'enough');
    const view = await lab.waitForSubmission(id);
    expect(view.jobs[0]!.result).toMatchObject({ kind: 'cancelled' });
    const log = await lab.submitter.log(jobId);
    expect(log.length).toBeLessThan(MiB + 1000);
    expect(log).toContain(
      `testbay: the log reached TESTBAY_MAX_LOG_BYTES (${MiB} bytes); the rest of the runner's output is dropped`,
    );
    expect(log).toMatch(/testbay: \d+ bytes of output were dropped\n$/);
    await expectHostFine('cap');
  });
});

describe('assets', () => {
  const wrong = '0'.repeat(64);

  it('file:///etc/shadow is not allowed by default; where file URLs are allowed, a wrong sha256 is answered without the real one', async () => {
    const refused = await lab.run({
      jobs: [sh('shadow', 'res', 'true', { assets: [{ url: 'file:///etc/shadow', sha256: wrong }] })],
    });
    expect(refused.jobs[0]!.result).toEqual({
      kind: 'aborted',
      cause: 'asset',
      reason: 'asset file:///etc/shadow is not allowed on this host (assets.allow: https://*, http://*)',
    });

    const oracle = await lab.run({
      jobs: [sh('oracle', 'files', 'true', { assets: [{ url: 'file:///etc/shadow', sha256: wrong }] })],
    });
    expect(oracle.jobs[0]!.result).toEqual({
      kind: 'aborted',
      cause: 'asset',
      reason: `asset sha256 mismatch for file:///etc/shadow: its content does not have the sha256 ${wrong}`,
    });
    const real = createHash('sha256').update(readFileSync('/etc/shadow')).digest('hex');
    expect(JSON.stringify(oracle)).not.toContain(real);
    expect(await lab.api.log(oracle.jobs[0]!.id)).not.toContain(real);
    await expectHostFine('files');
  });

  it('file:///dev/zero is refused at once: only regular files are assets', async () => {
    const started = Date.now();
    const view = await lab.run({
      jobs: [
        sh('zero', 'files', 'true', {
          assets: [{ url: 'file:///dev/zero', sha256: wrong }],
          provisionTimeoutMs: 60_000,
        }),
      ],
    });
    expect(view.jobs[0]!.result).toEqual({
      kind: 'aborted',
      cause: 'asset',
      reason: 'could not download asset file:///dev/zero: not a regular file',
    });
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe('test code', () => {
  it('a ref git would take for an option is refused, and git runs nothing', async () => {
    const repo = path.join(lab.dir, 'suite');
    await fs.mkdir(repo);
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo });
    git('init', '--quiet', '-b', 'main');
    await fs.writeFile(path.join(repo, 'suite.txt'), 'v1\n');
    git('add', '.');
    git('commit', '--quiet', '-m', 'v1');
    const planted = path.join(lab.dir, 'planted');
    const spec = { jobs: [sh('bad-ref', 'res', 'true', { tests: { git: repo, ref: `--output=${planted}` } })] };
    // Refused by the API's validation, or by the host: either way nothing ran.
    const view = await lab.run(spec).catch((err: unknown) => {
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(400);
      return undefined;
    });
    if (view)
      expect(view.jobs[0]!.result).toEqual({
        kind: 'aborted',
        cause: 'test-code',
        reason: `ref \`--output=${planted}\` is not a ref: it starts with "-"`,
      });
    expect(existsSync(planted)).toBe(false);
  });
});
