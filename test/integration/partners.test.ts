/**
 * Partners of a recipe set finding each other, on a real lab: TESTBAY_PARTNERS and
 * TESTBAY_ROLE in the runner's environment, a server that sends its port and a client that
 * receives it and connects, barriers both pass, a barrier a partner ended before (exit 3),
 * names with spaces (400 / exit 2), a job token used for another job or after its job ended
 * (403), and `stopPartnersOnFailure: false` letting a failed job's partner run to its end.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobView, SubmissionView } from '../../src/domain/views.js';
import { BIN, osTest, TestLab } from '../helpers/lab.js';

let lab: TestLab;
let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-partners-'));
  await fs.chmod(dir, 0o755);
  lab = await TestLab.start({
    name: 'partners',
    hosts: [
      { id: 'p1', caps: { slot: 'p1' } },
      { id: 'p2', caps: { slot: 'p2' } },
    ],
    // Long waits are many short calls: a short window here makes the CLI loop for real.
    env: { TESTBAY_PARTNER_WAIT_MS: '1500', TESTBAY_BROKEN_AFTER_ABORTS: '100' },
  });
});
afterEach(async () => {
  await lab.cancelRunning();
});
afterAll(async () => {
  await lab?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const byName = (v: SubmissionView) => Object.fromEntries(v.jobs.map((j) => [j.name, j])) as Record<string, JobView>;
const on = (slot: string) => ({ hostRequires: [`slot == ${slot}`] });

/** A runner written in JavaScript: a file in the test's dir, run with this Node. */
async function nodeRunner(name: string, extra: Record<string, unknown>, code: string) {
  const file = path.join(dir, `${name}.mjs`);
  const prelude = `
import { spawn } from 'node:child_process';
// Asynchronous, so a server in this runner goes on answering while the command waits.
const testbay = (...args) => new Promise((resolve) => {
  const child = spawn(${JSON.stringify(process.execPath)}, [${JSON.stringify(BIN)}, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.on('close', (status) => {
    console.log('testbay', args.join(' '), '->', status, stdout.trim(), stderr.trim());
    resolve({ status, stdout, stderr });
  });
});
const partners = JSON.parse(process.env.TESTBAY_PARTNERS);
`;
  await fs.writeFile(file, `${prelude}\n${code}\n`, { mode: 0o644 });
  return { name, workerClass: 'local', runner: { command: [process.execPath, file] }, timeoutMs: 120_000, ...extra };
}

describe('partners of a recipe set', () => {
  it('find each other: the server sends its port, the client receives it and connects, both pass barriers', async () => {
    const server = await nodeRunner(
      'server',
      { ...on('p1'), parallelWith: 'client', role: 'SERVERS' },
      `
import http from 'node:http';
console.log('role', process.env.TESTBAY_ROLE, 'partners', JSON.stringify(partners));
const srv = http.createServer((req, res) => res.end('hello from ' + process.env.TESTBAY_JOB));
await new Promise((resolve) => srv.listen(0, '0.0.0.0', resolve));
if ((await testbay('send', 'port', String(srv.address().port))).status !== 0) process.exit(10);
if ((await testbay('barrier', 'served', '--timeout', '60s')).status !== 0) process.exit(11);
srv.close();
`,
    );
    const client = await nodeRunner(
      'client',
      on('p2'),
      `
console.log('role', process.env.TESTBAY_ROLE);
const got = await testbay('receive', 'port', '--from', 'server', '--timeout', '60s');
if (got.status !== 0) process.exit(20);
const url = 'http://' + partners.server.address + ':' + got.stdout.trim() + '/';
const body = await (await fetch(url)).text();
console.log('fetched', url, body);
if (body !== 'hello from server') process.exit(21);
if ((await testbay('barrier', 'served', '--timeout', '60s', '--json')).status !== 0) process.exit(22);
`,
    );
    const view = await lab.run({ jobs: [server, client] }, 120_000);
    const jobs = byName(view);
    const serverLog = await lab.api.log(jobs.server!.id);
    const clientLog = await lab.api.log(jobs.client!.id);
    expect(
      { result: view.result, server: jobs.server!.result?.kind, client: jobs.client!.result?.kind },
      `${serverLog}\n----\n${clientLog}`,
    ).toEqual({ result: 'passed', server: 'passed', client: 'passed' });
    expect(clientLog).toContain('fetched http://');
    expect(clientLog).toContain('hello from server');
    expect(clientLog).toContain('role client');
    const partnersLine = /partners (\{.*\})/.exec(serverLog)![1]!;
    const partners = JSON.parse(partnersLine) as Record<
      string,
      { jobId: string; hostId: string; address: string; hostname: string; role: string }
    >;
    expect(partners.server).toMatchObject({
      jobId: jobs.server!.id,
      hostId: 'p1',
      hostname: os.hostname(),
      role: 'SERVERS',
    });
    expect(partners.client).toMatchObject({ jobId: jobs.client!.id, hostId: 'p2', role: 'client' });
    expect(partners.client!.address).toMatch(/\S/);
    expect(serverLog).toContain('role SERVERS');
  });

  it('a barrier a partner ended before ends with exit 3, naming the partner', async () => {
    const waiter = await nodeRunner(
      'waiter',
      { ...on('p1'), parallelWith: 'quick' },
      `
const r = await testbay('barrier', 'never', '--timeout', '90s');
process.exit(r.status === 3 && /quick/.test(r.stderr) ? 0 : 30);
`,
    );
    const view = await lab.run(
      { jobs: [waiter, osTest('quick', { MODULES: 'boot', MODULE_MS: '50' }, on('p2'))] },
      120_000,
    );
    const jobs = byName(view);
    const log = await lab.api.log(jobs.waiter!.id);
    expect(jobs.waiter!.result?.kind, log).toBe('passed');
    expect(log).toMatch(/ended before reaching barrier `never`/);
  });

  it('refuses bad names (400 naming the field, exit 2) and a job token for another job or after its job ended (403)', async () => {
    const prober = await nodeRunner(
      'prober',
      { ...on('p1'), parallelWith: 'peer' },
      `
import fs from 'node:fs';
const call = async (jobId, suffix, init = {}) => {
  const res = await fetch(process.env.TESTBAY_URL.split(',')[0] + '/api/v1/jobs/' + jobId + suffix, { ...init, headers: { authorization: 'Bearer ' + process.env.TESTBAY_JOB_TOKEN, 'content-type': 'application/json', ...init.headers } });
  return { status: res.status, body: await res.text() };
};
const own = process.env.TESTBAY_JOB_ID;
const results = {
  other: await call(partners.peer.jobId, '/messages/x?waitMs=0'),
  spaces: await call(own, '/barriers/' + encodeURIComponent('two words'), { method: 'POST', body: '{}' }),
  submissions: await fetch(process.env.TESTBAY_URL.split(',')[0] + '/api/v1/submissions', { headers: { authorization: 'Bearer ' + process.env.TESTBAY_JOB_TOKEN } }).then((r) => r.status),
  cliSpaces: (await testbay('barrier', 'two words')).status,
  ownSend: await call(own, '/messages/hello', { method: 'PUT', body: JSON.stringify({ value: 'world' }) }),
};
console.log('results', JSON.stringify(results));
console.log('my token is', process.env.TESTBAY_JOB_TOKEN);
fs.writeFileSync(process.env.TESTBAY_RESULTS_DIR + '/token.txt', process.env.TESTBAY_JOB_TOKEN);
await testbay('barrier', 'done', '--timeout', '60s');
`,
    );
    const peer = await nodeRunner(
      'peer',
      on('p2'),
      `
if ((await testbay('receive', 'hello', '--timeout', '60s')).stdout.trim() !== 'world') process.exit(40);
await testbay('barrier', 'done', '--timeout', '60s');
`,
    );
    const view = await lab.run({ jobs: [prober, peer] }, 120_000);
    const jobs = byName(view);
    const log = await lab.api.log(jobs.prober!.id);
    expect(view.result, `${log}\n----\n${await lab.api.log(jobs.peer!.id)}`).toBe('passed');
    const results = JSON.parse(/results (\{.*\})/.exec(log)![1]!) as Record<
      string,
      { status: number; body: string } | number
    >;
    expect(results.other).toMatchObject({ status: 403 });
    expect((results.other as { body: string }).body).toContain(`not the job token of job ${jobs.peer!.id}`);
    expect(results.spaces).toMatchObject({ status: 400 });
    expect((results.spaces as { body: string }).body).toContain('"name"');
    expect(results.submissions).toBe(401);
    expect(results.cliSpaces).toBe(2);
    expect(log).toMatch(/testbay barrier two words -> 2 {2}testbay: name: must start with a letter/);
    expect(results.ownSend).toMatchObject({ status: 200 });

    // After the job ended, its token opens nothing.
    const token = (await lab.api.artifact(jobs.prober!.id, 'token.txt')).toString('utf8');
    expect(token).toMatch(/^tbj_/);
    // The log masks it like a secret.
    expect(log).toContain('my token is ***');
    expect(log).not.toContain(token);
    const after = await fetch(`${lab.api.baseUrl}/api/v1/jobs/${jobs.prober!.id}/messages/hello`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'late' }),
    });
    expect(after.status).toBe(403);
    expect(await after.text()).toContain('has ended');
  });

  it('with stopPartnersOnFailure: false, a failed job leaves its partner running to its end', async () => {
    const view = await lab.run(
      {
        jobs: [
          osTest(
            'breaks',
            { FAIL_MODULE: 'boot', MODULES: 'boot', MODULE_MS: '50' },
            { ...on('p1'), parallelWith: 'lasts', stopPartnersOnFailure: false },
          ),
          osTest('lasts', { MODULES: 'boot,install,login', MODULE_MS: '700' }, on('p2')),
        ],
      },
      120_000,
    );
    const jobs = byName(view);
    expect(jobs.breaks!.result?.kind).toBe('failed');
    expect(jobs.lasts!.result?.kind).toBe('passed');
    expect(view.result).toBe('failed');
  });

  it('by default, a failed job still stops its partner', async () => {
    const view = await lab.run(
      {
        jobs: [
          osTest(
            'breaks',
            { FAIL_MODULE: 'boot', MODULES: 'boot', MODULE_MS: '50' },
            { ...on('p1'), parallelWith: 'lasts' },
          ),
          osTest('lasts', { MODULES: 'boot,install,login', MODULE_MS: '3000' }, on('p2')),
        ],
      },
      120_000,
    );
    const jobs = byName(view);
    expect(jobs.breaks!.result?.kind).toBe('failed');
    expect(jobs.lasts!.result?.kind).toBe('skipped');
  });
});
