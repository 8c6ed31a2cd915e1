/**
 * What keeps a host's secrets from its children: a worker's token comes from a file only its
 * owner can read (or the environment, then scrubbed), git and runners get environments of
 * their own, and per-test results are cut to fit one upload.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runnerEnv } from '../../src/activities/host/runner-env.js';
import { gitEnv } from '../../src/activities/host/test-code.js';
import { fitTests } from '../../src/activities/host/tests-upload.js';
import { takeToken } from '../../src/workers/token-source.js';
import { jobTokenOf } from '../../src/job-token.js';

describe("a worker's token", () => {
  it('comes from a file only its owner can read, and every token variable leaves the environment', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-token-'));
    const file = path.join(dir, 'host.token');
    await fs.writeFile(file, 'secret-from-file-0123456789\n', { mode: 0o644 });
    await fs.chmod(file, 0o644);
    const env: NodeJS.ProcessEnv = {
      TESTBAY_HOST_TOKEN: 'from-env',
      TESTBAY_TOKENS: '[]',
      TESTBAY_CONTROL_TOKEN_FILE: '/x',
      PATH: '/bin',
    };
    await expect(takeToken({ what: '--token-file', file, env })).rejects.toThrow(
      `--token-file ${file} is readable by others (mode 644): chmod 600 ${file}`,
    );
    expect(env).toEqual({ PATH: '/bin' });
    await fs.chmod(file, 0o600);
    expect(await takeToken({ what: '--token-file', file, env })).toBe('secret-from-file-0123456789');
    // Existing deployments: the variable's value, scrubbed all the same.
    const old: NodeJS.ProcessEnv = { TESTBAY_HOST_TOKEN: 'from-env' };
    expect(await takeToken({ what: 'x', fromEnv: old.TESTBAY_HOST_TOKEN, env: old })).toBe('from-env');
    expect(old).toEqual({});
  });
});

describe("what a host's children get of its environment", () => {
  const host = {
    PATH: '/usr/bin',
    HOME: '/root',
    TESTBAY_HOST_TOKEN: 't',
    TESTBAY_TOKENS: '[]',
    TEMPORAL_API_KEY: 'k',
    SSH_AUTH_SOCK: '/run/agent',
    AWS_SECRET_ACCESS_KEY: 's',
  };

  it('git: its own few variables, no token', () => {
    const env = gitEnv(host);
    expect(Object.keys(env).sort()).toEqual([
      'GIT_ASKPASS',
      'GIT_SSH_COMMAND',
      'GIT_TERMINAL_PROMPT',
      'HOME',
      'PATH',
      'SSH_ASKPASS',
      'SSH_AUTH_SOCK',
    ]);
  });

  it("a runner of another user: that user's identity and home, no token", () => {
    const run = {
      jobId: 's1.1',
      jobName: 'j',
      submissionId: 's1',
      hostId: 'h1',
      attempt: 1,
      leaseToken: 'lease',
      runner: { command: ['x'] },
      settings: {},
      timeoutMs: 1,
      provisionTimeoutMs: 1,
      assets: [],
    };
    const user = { name: 'testbay-runner', uid: 999, gid: 999, separate: true };
    const env = runnerEnv(run, { workDir: '/w/work', resultsDir: '/w/results' }, [], user, host);
    expect(env).toMatchObject({ HOME: '/w/work', USER: 'testbay-runner', LOGNAME: 'testbay-runner' });
    expect(JSON.stringify(env)).not.toMatch(/TOKEN|API_KEY|SECRET|lease/);
  });

  it('a runner of a recipe set: its partners, its role, the API and a job token that is not the upload token', () => {
    const partners = { j: { jobId: 's1.1', hostId: 'h1', address: '10.0.0.1', hostname: 'rack1', role: 'SERVERS' } };
    const run = {
      jobId: 's1.1',
      jobName: 'j',
      submissionId: 's1',
      hostId: 'h1',
      attempt: 1,
      leaseToken: 'upload-token-of-s1.1',
      runner: { command: ['x'] },
      settings: {},
      timeoutMs: 1,
      provisionTimeoutMs: 1,
      assets: [],
      partners,
      role: 'SERVERS',
    };
    const env = runnerEnv(run, { workDir: '/w/work', resultsDir: '/w/results' }, [], undefined, host, {
      apiUrl: 'http://api:8780',
    });
    expect(env).toMatchObject({
      TESTBAY_ROLE: 'SERVERS',
      TESTBAY_URL: 'http://api:8780',
      TESTBAY_JOB_TOKEN: jobTokenOf('upload-token-of-s1.1'),
    });
    expect(JSON.parse(env.TESTBAY_PARTNERS!)).toEqual(partners);
    expect(env.TESTBAY_JOB_TOKEN).toMatch(/^tbj_[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(env)).not.toContain('upload-token-of-s1.1');
    expect(jobTokenOf('upload-token-of-s1.2')).not.toBe(env.TESTBAY_JOB_TOKEN);
  });
});

describe('per-test results for one upload', () => {
  it('are sent as they are when they fit, and with their messages cut to one length, saying so, when they do not', async () => {
    const small = [
      { name: 'a', status: 'passed' as const, message: 'ok' },
      { name: 'b', status: 'skipped' as const },
    ];
    expect(await fitTests(small, 1000)).toEqual({ tests: small, bytes: JSON.stringify({ tests: small }).length });
    expect(await fitTests([], 1000)).toEqual({ tests: [], bytes: JSON.stringify({ tests: [] }).length });
    const many = Array.from({ length: 100 }, (_, i) => ({
      name: `t${i}`,
      status: 'failed' as const,
      message: 'é'.repeat(900),
    }));
    const fitted = await fitTests(many, 50_000);
    expect(fitted.bytes).toBeLessThanOrEqual(50_000);
    expect(Buffer.byteLength(JSON.stringify({ tests: fitted.tests }))).toBe(fitted.bytes);
    expect(fitted.tests).toHaveLength(100);
    expect(fitted.tests[0]!.message).toMatch(
      /^é+ … \[cut by testbay: \d+ of 900 characters kept so the results fit one upload\]$/,
    );
    await expect(fitTests(many, 500)).rejects.toThrow(/even without their messages/);
    // Messages cut to nothing when even the shortest cut does not fit: the tests go up bare.
    const bare = await fitTests(many, 5_000);
    expect(bare.tests[0]).toEqual({ name: 't0', status: 'failed' });
    expect(Buffer.byteLength(JSON.stringify({ tests: bare.tests }))).toBe(bare.bytes);
  });

  it('give the event loop turns while they measure a large list (a host that blocks misses its heartbeats)', async () => {
    const large = Array.from({ length: 400 }, (_, i) => ({
      name: `t${i}`,
      status: 'passed' as const,
      message: 'x'.repeat(9_000),
    }));
    let turns = 0;
    const fitted = await fitTests(large, 2 * 1024 ** 2, () => {
      turns++;
      return Promise.resolve();
    });
    expect(Buffer.byteLength(JSON.stringify({ tests: fitted.tests }))).toBe(fitted.bytes);
    expect(fitted.bytes).toBeLessThanOrEqual(2 * 1024 ** 2);
    // 3.6 MB measured whole, then 2 MB measured cut: a turn after each MiB.
    expect(turns).toBeGreaterThanOrEqual(4);
  });
});
