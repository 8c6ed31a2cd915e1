/**
 * The `testbay` CLI against a real lab: submit --watch with exit codes (0 passed,
 * 1 failed, 2 bad input or a refused token, 3 cancelled, 4 unreachable, a server error or
 * an unexpected reply), --json output that scripts can parse, status, logs (-f), restart,
 * hosts, cancel.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
let env: Record<string, string>;
let dir: string;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'cli', hosts: [{ id: 'c1' }, { id: 'c2' }] });
  env = { TESTBAY_URL: lab.api.baseUrl, TESTBAY_TOKEN: lab.tokens.operate, TESTBAY_DATA_DIR: lab.dir };
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-cli-'));
});
afterAll(async () => {
  await lab?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const ID = /^[a-z0-9]{6,32}$/;

describe('testbay CLI', () => {
  it('submit --watch prints the id first, shows progress and exits 0 when the job passed', async () => {
    const r = await cli(['submit', 'examples/hello.yaml', '--watch'], env);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(ID);
    expect(r.stdout).toMatch(/hello \[[a-z0-9]+\.1\] running on c[12]/);
    expect(lines.at(-1)).toBe(`submission ${lines[0]} (hello): PASSED`);
    expect(r.code).toBe(0);

    const status = await cli(['status', lines[0]!, '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: lines[0], result: 'passed' });
    const table = await cli(['status', lines[0]!], env);
    expect(table.stdout).toMatch(/hello\s+[a-z0-9]+\.1\s+done\s+PASSED\s+c[12]/);
    const logs = await cli(['logs', `${lines[0]}.1`], env);
    expect(logs.stdout).toMatch(/\[login\] ok/);
  });

  it('exits 1 when the job failed, and says which test', async () => {
    const r = await cli(['submit', 'examples/fail.yaml', '--watch'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/failed on c[12]: runner exited with code 1; 1 of 4 tests failed: `login`/);
  });

  it('exits 2 on a bad spec, naming the field and the reason, without submitting', async () => {
    const file = path.join(dir, 'bad.yaml');
    await fs.writeFile(file, 'jobs:\n  - name: x\n    workerClass: local\n    runner: { command: [] }\n');
    const r = await cli(['submit', file], env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `testbay: invalid job spec ${file}:\n  jobs.0.runner.command: needs at least the program to run\n`,
    );
    expect((await cli(['submit'], env)).code).toBe(2);
    expect((await cli(['frobnicate'], env)).code).toBe(2);
  });

  it('exits 4 when the server cannot be reached', async () => {
    const r = await cli(['status'], { ...env, TESTBAY_URL: 'http://127.0.0.1:9' });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/cannot reach the Testbay API at http:\/\/127\.0\.0\.1:9/);
  });

  it('exits 2 naming the token when the API refuses it, and 4 (never 1) on a server error or a reply it cannot read', async () => {
    const unknown = await cli(['status'], { ...env, TESTBAY_TOKEN: 'not-a-token-of-this-lab' });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      'testbay: the API refused the token (401: unknown token): set TESTBAY_TOKEN to a submit or operate token of this server\n',
    );
    const hostToken = await cli(['status'], { ...env, TESTBAY_TOKEN: lab.tokens.host });
    expect(hostToken.code).toBe(2);
    expect(hostToken.stderr).toMatch(
      /^testbay: the token may not do this \(403: a host token may not read; needs one of: submit, operate\)/,
    );

    // A server that fails: 500 and 502 on every request, or 200 with something that is not JSON.
    const server = http.createServer((req, res) => {
      if (req.url?.startsWith('/api/v1/hosts'))
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>a proxy page</html>');
      else if (req.url?.startsWith('/api/v1/submissions/')) res.writeHead(502).end('bad gateway');
      else res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal error"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const failing = { ...env, TESTBAY_URL: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
    try {
      const internal = await cli(['status'], failing);
      expect(internal.code).toBe(4);
      expect(internal.stderr).toBe('testbay: server error (500): internal error\n');
      const gateway = await cli(['status', 'abcdefgh'], failing);
      expect(gateway.code).toBe(4);
      expect(gateway.stderr).toBe('testbay: server error (502): bad gateway\n');
      const garbled = await cli(['hosts'], failing);
      expect(garbled.code).toBe(4);
      expect(garbled.stderr).toMatch(/^testbay: unexpected error \(no verdict\): SyntaxError/);
    } finally {
      server.close();
    }
    const help = await cli(['--help'], env);
    expect(help.stdout).toMatch(/^ {2}4 {2}no verdict: cannot reach the server, a server error \(5xx/m);
  });

  it('--json prints JSON alone, so scripts can parse it: submit, submit --watch, restart, logs', async () => {
    const submitted = await cli(['submit', 'examples/hello.yaml', '--json'], env);
    expect(submitted.code).toBe(0);
    const created = JSON.parse(submitted.stdout) as { id: string; workflowId: string; jobs: { id: string }[] };
    expect(Object.keys(created)[0]).toBe('id');
    expect(created.id).toMatch(ID);
    expect(created.workflowId).toBe(`sub-${created.id}`);
    await lab.waitForSubmission(created.id);

    const watched = await cli(['submit', 'examples/hello.yaml', '--watch', '--json'], env);
    expect(watched.code).toBe(0);
    const final = JSON.parse(watched.stdout) as { id: string; state: string; result: string };
    expect(Object.keys(final)[0]).toBe('id');
    expect(final).toMatchObject({ id: expect.stringMatching(ID), state: 'done', result: 'passed' });

    const restarted = await cli(['restart', `${created.id}.1`, '--json'], env);
    expect(restarted.code).toBe(0);
    const again = JSON.parse(restarted.stdout) as { id: string; jobs: { name: string }[] };
    expect(Object.keys(again)[0]).toBe('id');
    expect(again.jobs.map((j) => j.name)).toEqual(['hello']);
    const rerun = await lab.waitForSubmission(again.id);
    expect(rerun.restartOf).toEqual({ submissionId: created.id, jobId: `${created.id}.1` });
    // A restart goes on counting attempts (TESTBAY_ATTEMPT) from the job it re-runs.
    expect(rerun.jobs[0]!.attempt).toBe(2);
    expect(await lab.api.log(rerun.jobs[0]!.id)).toMatch(/attempt 2 on host/);

    const log = await cli(['logs', `${created.id}.1`, '--json'], env);
    const parsed = JSON.parse(log.stdout) as { id: string; log: string };
    expect(parsed.id).toBe(`${created.id}.1`);
    expect(parsed.log).toBe(await lab.api.log(`${created.id}.1`));
    const followed = await cli(['logs', `${created.id}.1`, '-f', '--json'], env);
    const lines = followed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { log?: string; end?: boolean; result?: unknown });
    expect(lines.map((l) => l.log ?? '').join('')).toBe(parsed.log);
    expect(lines.at(-1)).toEqual({ id: `${created.id}.1`, end: true, result: { kind: 'passed' } });
  });

  it('restart --watch re-runs a finished job and its dependants as a new submission; --no-children only the job', async () => {
    const file = path.join(dir, 'two.yaml');
    await fs.writeFile(
      file,
      'name: two\njobs:\n  - name: first\n    workerClass: local\n    runner: { command: [os-test] }\n    settings: { MODULES: boot, MODULE_MS: 50 }\n  - name: second\n    startAfter: first\n    workerClass: local\n    runner: { command: [os-test] }\n    settings: { MODULES: boot, MODULE_MS: 50 }\n',
    );
    const first = await cli(['submit', file, '--watch'], env);
    expect(first.code).toBe(0);
    const id = first.stdout.split('\n')[0]!;
    const r = await cli(['restart', `${id}.1`, '--watch'], env);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(ID);
    expect(lines[0]).not.toBe(id);
    expect(r.stdout).toMatch(/first \[[a-z0-9]+\.1\] passed on c[12]/);
    expect(r.stdout).toMatch(/second \[[a-z0-9]+\.2\] passed on c[12]/);
    expect(lines.at(-1)).toBe(`submission ${lines[0]} (restart of first (two)): PASSED`);
    const only = await cli(['restart', `${id}.1`, '--no-children'], env);
    expect(only.code).toBe(0);
    expect(only.stderr).toBe('re-running first\n');
    await lab.waitForSubmission(only.stdout.trim());
    // A job that has not finished cannot be restarted: a conflict, exit 2.
    const hang = path.join(dir, 'hang-restart.yaml');
    await fs.writeFile(
      hang,
      'jobs:\n  - name: h\n    workerClass: local\n    runner: { command: [os-test] }\n    settings: { HANG_MODULE: boot }\n',
    );
    const running = (await cli(['submit', hang], env)).stdout.trim();
    const refused = await cli(['restart', `${running}.1`], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/has not finished; cancel it first/);
    await lab.api.cancelSubmission(running);
    await lab.waitForSubmission(running);
  });

  it('logs -f follows a running job live to its end and exits with its verdict', async () => {
    const file = path.join(dir, 'slow-fail.yaml');
    await fs.writeFile(
      file,
      'jobs:\n  - name: slow\n    workerClass: local\n    runner: { command: [os-test] }\n    settings: { MODULES: "boot,install,login", MODULE_MS: 700, FAIL_MODULE: login }\n',
    );
    const id = (await cli(['submit', file], env)).stdout.trim();
    const jobId = `${id}.1`;
    await waitFor('the job to run', async () => (await lab.api.job(jobId)).state === 'running', 30_000, 100);
    const before = await lab.api.log(jobId);
    expect(before).not.toMatch(/\[login\]/);
    const r = await cli(['logs', jobId, '-f'], env);
    // What came after the follow started is there, up to the end of the log.
    expect(r.stdout).toMatch(/\[login\]/);
    expect(r.stdout).toBe(await lab.api.log(jobId));
    expect(r.stderr).toMatch(new RegExp(`^-- job ${jobId.replace('.', '\\.')} failed: `));
    expect(r.code).toBe(1);
  });

  it('cancel stops a watched submission, which then exits 3', async () => {
    const file = path.join(dir, 'hang.yaml');
    await fs.writeFile(
      file,
      'jobs:\n  - name: h\n    workerClass: local\n    runner: { command: [os-test] }\n    settings: { HANG_MODULE: boot }\n',
    );
    const watching = cli(['submit', file, '--watch'], env);
    const watched = await waitFor('the watch to show the job running', async () => {
      const list = await lab.api.submissions({ limit: '1' });
      const s = list.submissions[0];
      if (!s || s.state !== 'running') return undefined;
      const v = await lab.api.submission(s.id);
      return v.jobs[0]?.state === 'running' ? s.id : undefined;
    });
    const cancelled = await cli(['cancel', watched, '--reason', 'enough'], env);
    expect(cancelled.code).toBe(0);
    const r = await watching;
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/cancelled.*cancelled by operator: enough/);
  });

  it('says why a job of a chain waits: for the job before it on the host (status and --watch)', async () => {
    const file = path.join(dir, 'chain.yaml');
    await fs.writeFile(
      file,
      'name: chained\njobs:\n  - name: first\n    workerClass: local\n    runner: { command: [os-test] }\n    settings: { MODULES: "boot,install,login", MODULE_MS: 2500 }\n  - name: second\n    startDirectlyAfter: first\n    workerClass: local\n    runner: { command: [os-test] }\n    settings: { MODULES: boot, MODULE_MS: 50 }\n',
    );
    const watching = cli(['submit', file, '--watch'], env);
    const id = await waitFor(
      'the submission',
      async () => (await lab.api.submissions({ q: 'chained', limit: '1' })).submissions[0]?.id,
    );
    const row = await waitFor(
      'the second job to wait its turn',
      async () => {
        const r = await cli(['status', id], env);
        return /second\s+\S+\.2\s+scheduled\s+-\s+c[12]\s+waiting for `first` to finish on host c[12]/.exec(
          r.stdout,
        )?.[0];
      },
      30_000,
      300,
    );
    const host = /host (c[12])/.exec(row)![1];
    const view = JSON.parse((await cli(['status', id, '--json'], env)).stdout) as {
      jobs: { name: string; state: string; hostId: string; waitingReason?: string }[];
    };
    expect(view.jobs.find((j) => j.name === 'second')).toMatchObject({
      state: 'scheduled',
      hostId: host,
      waitingReason: `waiting for \`first\` to finish on host ${host}`,
    });
    const r = await watching;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `second [${id}.2] scheduled on ${host}: waiting for \`first\` to finish on host ${host}`,
    );
    expect(r.stdout).toMatch(
      /second \[\S+\.1\] waiting: waiting for a host|first \[\S+\.1\] waiting: waiting for a host/,
    );
  });

  it('hosts lists every host with its state', async () => {
    const r = await cli(['hosts', '--json'], env);
    const lab = JSON.parse(r.stdout) as { hosts: { id: string; state: string }[] };
    expect(lab.hosts.map((h) => h.id)).toEqual(['c1', 'c2']);
    const table = await cli(['hosts'], env);
    expect(table.stdout).toMatch(/^HOST\s+STATE/);
    expect(table.stdout).toMatch(/c1\s+idle\s+local/);
  });
});
