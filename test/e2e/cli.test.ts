/**
 * The `testbay` CLI against a real lab: submit --watch with exit codes (0 passed,
 * 1 failed, 2 bad input, 3 cancelled, 4 unreachable), status, logs, hosts, cancel.
 */
import fs from 'node:fs/promises';
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
    expect(r.stderr).toBe(`testbay: invalid job spec ${file}:\n  jobs.0.runner.command: needs at least the program to run\n`);
    expect((await cli(['submit'], env)).code).toBe(2);
    expect((await cli(['frobnicate'], env)).code).toBe(2);
  });

  it('exits 4 when the server cannot be reached', async () => {
    const r = await cli(['status'], { ...env, TESTBAY_URL: 'http://127.0.0.1:9' });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/cannot reach the Testbay API at http:\/\/127\.0\.0\.1:9/);
  });

  it('cancel stops a watched submission, which then exits 3', async () => {
    const file = path.join(dir, 'hang.yaml');
    await fs.writeFile(file, 'jobs:\n  - name: h\n    workerClass: local\n    runner: { command: [os-test] }\n    settings: { HANG_MODULE: boot }\n');
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

  it('hosts lists every host with its state', async () => {
    const r = await cli(['hosts', '--json'], env);
    const lab = JSON.parse(r.stdout) as { hosts: { id: string; state: string }[] };
    expect(lab.hosts.map((h) => h.id)).toEqual(['c1', 'c2']);
    const table = await cli(['hosts'], env);
    expect(table.stdout).toMatch(/^HOST\s+STATE/);
    expect(table.stdout).toMatch(/c1\s+idle\s+local/);
  });
});
