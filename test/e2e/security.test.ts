/**
 * Security and bad input over real HTTP: every documented operation refuses a missing
 * token (401) and the wrong role (403); a host token bound to one host cannot write for a
 * job leased to another, even with the right lease token; lease tokens never leak through
 * read APIs; oversize bodies get 413; fuzzed specs never crash the API (no 5xx) and start
 * a workflow only when accepted; settings and argv reach the runner verbatim, never
 * through a shell.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/api/auth.js';
import { OPERATIONS } from '../../src/api/routes/openapi.js';
import { specLike } from '../helpers/spec-arbitraries.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

const boundToOther = newToken();
let lab: TestLab;
let url: string;
let scratch: string;

beforeAll(async () => {
  lab = await TestLab.start({
    name: 'security',
    hosts: [{ id: 'sec1', classes: ['secure'] }],
    extraTokens: [{ token: boundToOther, role: 'host', name: 'sec2', hostId: 'sec2' }],
  });
  url = lab.api.baseUrl;
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-security-'));
});
afterAll(async () => {
  await lab?.stop();
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

const call = (
  method: string,
  p: string,
  token?: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
) =>
  fetch(`${url}/api/v1${p}`, {
    method: method.toUpperCase(),
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    ...(body !== undefined ? { body } : {}),
  });

/** A token of each role, and for each permission a role that lacks it. */
function wrongRoleFor(permission: string): string | undefined {
  const byRole = {
    submit: lab.tokens.submit,
    operate: lab.tokens.operate,
    host: lab.tokens.host,
    control: lab.tokens.control,
  };
  // A partner route takes only the job's own job token: even an operator's is refused.
  const lacking: Record<string, keyof typeof byRole> = {
    read: 'host',
    submit: 'host',
    operate: 'submit',
    upload: 'submit',
    control: 'operate',
    job: 'operate',
  };
  const role = lacking[permission];
  return role ? byRole[role] : undefined;
}

async function leasedJob(name: string): Promise<{ submissionId: string; jobId: string; lease: string }> {
  const { id, jobs } = await lab.submit({ jobs: [osTest(name, { HANG_MODULE: 'login' }, { workerClass: 'secure' })] });
  const jobId = jobs[0]!.id;
  await waitFor(`${name} to run`, async () => (await lab.api.job(jobId)).state === 'running', 30_000);
  const record = (await lab.store.getJob(jobId))!;
  return { submissionId: id, jobId, lease: record.leaseToken };
}

describe('security', () => {
  it('every documented operation that needs a token refuses none (401) and the wrong role (403)', async () => {
    const guarded = OPERATIONS.filter((op) => op.permission !== 'none');
    expect(guarded.length).toBeGreaterThan(20);
    for (const op of guarded) {
      const p = op.path
        .replace('{submissionId}', 'abcdef123')
        .replace('{runName}', 'suite')
        .replace(
          '{id}',
          op.path.startsWith('/hosts')
            ? 'sec1'
            : op.path.startsWith('/jobs') || op.path.startsWith('/internal/jobs')
              ? 'abcdef123.1'
              : 'abcdef123',
        )
        .replace('{name}', 'a.txt')
        .replace('{key}', 'port');
      const body = op.method === 'get' || op.method === 'delete' ? undefined : '{}';
      const headers = body ? { 'content-type': 'application/json' } : {};
      const none = await call(op.method, p, undefined, body, headers);
      expect(none.status, `${op.method} ${p} without a token`).toBe(401);
      const wrong = wrongRoleFor(op.permission);
      if (wrong) {
        const res = await call(op.method, p, wrong, body, headers);
        expect(res.status, `${op.method} ${p} with a token lacking ${op.permission}`).toBe(403);
      }
    }
  });

  it('a host token bound to another host cannot write for a job, even with its lease token; lease tokens never leak', async () => {
    const { submissionId, jobId, lease } = await leasedJob('bound');
    const headers = { 'x-testbay-lease': lease, 'content-type': 'application/octet-stream' };
    expect((await call('post', `/jobs/${jobId}/log?offset=0`, boundToOther, 'zombie', headers)).status).toBe(409);
    expect((await call('put', `/jobs/${jobId}/artifacts/evil.txt`, boundToOther, 'x', headers)).status).toBe(409);
    expect(
      (
        await call('put', `/jobs/${jobId}/tests`, boundToOther, JSON.stringify({ tests: [] }), {
          ...headers,
          'content-type': 'application/json',
        })
      ).status,
    ).toBe(409);
    // A job it does not hold answers alike whether it exists or not: no oracle of job ids.
    const answer = async (id: string) => {
      const res = await call('post', `/jobs/${id}/log?offset=0`, boundToOther, 'probe', headers);
      return `${res.status} ${((await res.json()) as { error: string }).error.replace(id, 'ID')}`;
    };
    expect(await answer(jobId)).toBe(await answer(`${submissionId}.999`));
    expect(await answer(jobId)).toBe(await answer('zzzzzzzz.1'));
    // The unbound lab token with the lease works: the refusal above was the binding.
    expect((await call('put', `/jobs/${jobId}/artifacts/ok.txt`, lab.tokens.host, 'x', headers)).status).toBe(201);
    // Whoever reads the lab learns no lease token: no one else can write as the host.
    for (const p of [
      `/jobs/${jobId}`,
      `/submissions/${submissionId}`,
      `/submissions/${submissionId}/plan`,
      '/hosts',
      `/submissions?limit=500`,
    ]) {
      const text = await (await call('get', p, lab.tokens.operate)).text();
      expect(text.includes(lease), `${p} shows the lease token`).toBe(false);
    }
    await lab.api.cancelSubmission(submissionId);
    await lab.waitForSubmission(submissionId);
  });

  it('refuses artifact names that could leave their folder, and oversize bodies with 413', async () => {
    const { submissionId, jobId, lease } = await leasedJob('names');
    const headers = { 'x-testbay-lease': lease, 'content-type': 'application/octet-stream' };
    const put = (name: string, body: string | Buffer = 'x') =>
      call('put', `/jobs/${jobId}/artifacts/${name}`, lab.tokens.host, body, headers);
    for (const bad of [
      '..%2Fescape',
      'a%2F..%2F..%2Fescape',
      'screenshots%2F..%2F..%2F..%2Fescape',
      '%2Fetc%2Fpasswd',
      'a%00b',
      '..',
      '.',
      'a%2F%2Fb',
      `${'a'.repeat(300)}`,
      'a%5C..%5Cb',
    ]) {
      const res = await put(bad);
      expect([400, 404], `artifact name ${bad}: ${res.status}`).toContain(res.status);
    }
    await expect(fs.access(path.join(lab.dir, 'escape'))).rejects.toThrow();
    await expect(fs.access(path.join(lab.dir, 'objects', 'escape'))).rejects.toThrow();
    await expect(fs.access(path.join(lab.dir, 'objects', 'jobs', 'escape'))).rejects.toThrow();
    // Bodies above each route's limit.
    const before = (await lab.api.submissions({ limit: '500' })).submissions.length;
    const seventeenMb = Buffer.alloc(17 * 1024 * 1024, 0x61).toString();
    const huge = await call(
      'post',
      '/submissions',
      lab.tokens.submit,
      JSON.stringify({ jobs: [osTest('big', { BLOB: seventeenMb })] }),
      { 'content-type': 'application/json' },
    );
    expect(huge.status).toBe(413);
    const hugeYaml = await call('post', '/submissions', lab.tokens.submit, `jobs: []\n# ${seventeenMb}`, {
      'content-type': 'application/yaml',
    });
    expect(hugeYaml.status).toBe(413);
    // Within the body limit, but more than a workflow's input may hold: refused before
    // anything is recorded or started, saying what to do instead.
    // (Each job's settings stay within what a process may be given: 10 of 3.5 kB, 50 jobs.)
    const wide = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`BLOB${i}`, 'a'.repeat(3_500)]));
    const fatJobs = Array.from({ length: 50 }, (_, i) => osTest(`fat-${i}`, wide));
    const fat = await call('post', '/submissions', lab.tokens.submit, JSON.stringify({ jobs: fatJobs }), {
      'content-type': 'application/json',
    });
    expect(fat.status).toBe(413);
    expect(((await fat.json()) as { error: string }).error).toMatch(/put large data into assets/);
    expect((await lab.api.submissions({ limit: '500' })).submissions.length).toBe(before);
    const log = await call(
      'post',
      `/jobs/${jobId}/log?offset=0`,
      lab.tokens.host,
      Buffer.alloc(9 * 1024 * 1024),
      headers,
    );
    expect(log.status).toBe(413);
    const progress = await call(
      'post',
      `/jobs/${jobId}/progress`,
      lab.tokens.host,
      JSON.stringify({ progress: { message: 'x'.repeat(100_000) } }),
      { ...headers, 'content-type': 'application/json' },
    );
    expect(progress.status).toBe(413);
    const cancel = await call(
      'post',
      `/submissions/${submissionId}/cancel`,
      lab.tokens.submit,
      JSON.stringify({ reason: 'x'.repeat(20_000) }),
      { 'content-type': 'application/json' },
    );
    expect(cancel.status).toBe(413);
    // The API is still well and the job still leased.
    expect((await lab.api.job(jobId)).state).toBe('running');
    await lab.api.cancelSubmission(submissionId);
    await lab.waitForSubmission(submissionId);
  });

  it('fuzzed specs never crash the API, and only accepted ones start a workflow', async () => {
    const before = (await lab.api.submissions({ limit: '500' })).submissions.length;
    const samples = fc.sample(specLike(), { numRuns: Number(process.env.FUZZ_API_RUNS ?? 150), seed: 20261201 });
    let accepted = 0;
    for (const spec of samples) {
      const asYaml = accepted % 2 === 1;
      // An operate token: a submit token also gets 403 for a priority ahead of the default.
      const res = await call('post', '/submissions', lab.tokens.operate, JSON.stringify(spec) ?? 'null', {
        'content-type': asYaml ? 'application/yaml' : 'application/json',
      });
      expect([201, 400], `${res.status} for ${JSON.stringify(spec)}: ${await res.clone().text()}`).toContain(
        res.status,
      );
      const body = (await res.json()) as { id?: string; issues?: { path: unknown[]; message: string }[] };
      if (res.status === 201) accepted++;
      else expect(body.issues?.length ?? 1).toBeGreaterThan(0);
    }
    // The fuzzer's jobs want hosts this lab does not have: accepted ones end at once.
    const after = (await lab.api.submissions({ limit: '500' })).submissions.length;
    expect(after - before).toBe(accepted);
    // Submissions of the other tests in this file, plus the fuzzer's accepted ones (Temporal's
    // list is eventually consistent: wait for it to catch up, and never to pass the count).
    const listed = async () => {
      let workflows = 0;
      for await (const _ of lab.temporal.workflow.list({ query: 'WorkflowType = "submissionWorkflow"' })) workflows++;
      return workflows;
    };
    await waitFor('Temporal to list every submission workflow', async () => (await listed()) >= after, 15_000, 250);
    expect(await listed()).toBe(after);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(samples.length);
  });

  it('passes settings and argv to the runner verbatim, never through a shell', async () => {
    const marker = (n: number) => path.join(scratch, `pwned-${n}-${randomBytes(3).toString('hex')}`);
    const markers = [marker(1), marker(2), marker(3), marker(4)];
    const runner = path.join(scratch, 'show-args.cjs');
    await fs.writeFile(
      runner,
      "const fs = require('fs'); const e = process.env; fs.writeFileSync(e.TESTBAY_RESULTS_DIR + '/seen.json', JSON.stringify({ argv: process.argv.slice(2), EVIL: e.EVIL, SEMI: e.SEMI, BACK: e.BACK }));\n",
    );
    const settings = {
      EVIL: `$(touch ${markers[0]})`,
      SEMI: `x; touch ${markers[1]}`,
      BACK: `\`touch ${markers[2]}\``,
    };
    const argv = [`$(touch ${markers[3]})`, '; echo hi', '*', '$HOME', "'quoted'"];
    const view = await lab.run({
      jobs: [
        { name: 'verbatim', workerClass: 'secure', runner: { command: [process.execPath, runner, ...argv] }, settings },
      ],
    });
    expect(view.result).toBe('passed');
    const seen = JSON.parse((await lab.api.artifact(view.jobs[0]!.id, 'seen.json')).toString()) as Record<
      string,
      unknown
    >;
    expect(seen).toEqual({ argv, ...settings });
    for (const m of markers) expect(existsSync(m), `${m} was created: something ran a shell`).toBe(false);
  });
});
