/**
 * The CLI's result and host commands against a real lab: `results --junit` (JUnit XML
 * for CI, failed tests as <failure>, infrastructure aborts as <error> with their cause,
 * skipped jobs as <skipped>), `results`, `job`, `artifacts`, `status` filters, and the
 * host commands with --json.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { osTest, TestLab } from '../helpers/lab.js';

let lab: TestLab;
let env: Record<string, string>;
let dir: string;
let id: string;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'cli-results', hosts: [{ id: 'r1' }, { id: 'r2' }] });
  env = { TESTBAY_URL: lab.api.baseUrl, TESTBAY_TOKEN: lab.tokens.operate, TESTBAY_DATA_DIR: lab.dir };
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-cli-results-'));
  ({ id } = await lab.submit({
    name: 'for-ci',
    jobs: [
      osTest('good'),
      osTest('bug', { FAIL_MODULE: 'login' }),
      osTest('lab-fault', { ABORT_MODULE: 'install' }),
      osTest('after-bug', {}, { startAfter: ['bug'] }),
    ],
  }));
  await lab.waitForSubmission(id);
}, 120_000);
afterAll(async () => {
  await lab?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

interface Case {
  '@_name': string;
  '@_classname': string;
  failure?: { '@_type': string; '@_message': string };
  error?: { '@_type': string; '@_message': string };
  skipped?: { '@_message'?: string };
}
interface Suite {
  '@_name': string;
  '@_tests': string;
  '@_failures': string;
  '@_errors': string;
  '@_skipped': string;
  '@_hostname'?: string;
  properties: { property: { '@_name': string; '@_value': string }[] };
  testcase: Case[];
}

describe('testbay results and friends', () => {
  it('results --junit writes JUnit XML that tells test failures from infrastructure aborts', async () => {
    const out = path.join(dir, 'junit.xml');
    const r = await cli(['results', id, '--junit', '-o', out], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = new XMLParser({
      ignoreAttributes: false,
      isArray: (name) => name === 'testsuite' || name === 'testcase' || name === 'property',
    }).parse(await fs.readFile(out, 'utf8')) as {
      testsuites: {
        '@_name': string;
        '@_tests': string;
        '@_failures': string;
        '@_errors': string;
        '@_skipped': string;
        testsuite: Suite[];
      };
    };
    const root = doc.testsuites;
    expect(root['@_name']).toBe(`testbay submission ${id} (for-ci)`);
    const suites = Object.fromEntries(root.testsuite.map((s) => [s['@_name'], s]));
    expect(Object.keys(suites)).toEqual(['good', 'bug', 'lab-fault', 'after-bug']);

    const good = suites.good!;
    expect(good.testcase.map((c) => c['@_name'])).toEqual(['boot', 'install', 'login']);
    expect(good.testcase.every((c) => !c.failure && !c.error)).toBe(true);
    expect(good['@_hostname']).toMatch(/^r[12]$/);

    const bug = suites.bug!;
    expect(bug['@_failures']).toBe('1');
    expect(bug['@_errors']).toBe('0');
    expect(bug.testcase.find((c) => c['@_name'] === 'login')?.failure).toBeDefined();

    const fault = suites['lab-fault']!;
    expect(fault['@_errors']).toBe('1');
    expect(fault['@_failures']).toBe('0');
    const jobCase = fault.testcase.find((c) => c['@_name'] === '(job)')!;
    expect(jobCase.error?.['@_type']).toBe('aborted:runner-abort');
    expect(fault.properties.property).toContainEqual({ '@_name': 'testbay.cause', '@_value': 'runner-abort' });

    const skipped = suites['after-bug']!;
    expect(skipped['@_skipped']).toBe('1');
    expect(skipped.testcase[0]?.skipped?.['@_message']).toMatch(/^skipped: .*bug/);

    expect(Number(root['@_failures'])).toBe(1);
    expect(Number(root['@_errors'])).toBe(1);
    expect(Number(root['@_tests'])).toBe(root.testsuite.reduce((n, s) => n + Number(s['@_tests']), 0));
  });

  it('results prints a summary per job, and --json the tests', async () => {
    const text = await cli(['results', id], env);
    expect(text.stdout).toMatch(/bug \[[a-z0-9]+\.2\] failed: runner exited with code 1/);
    expect(text.stdout).toMatch(/FAILED (\S+\.)?login: module login failed/);
    expect(text.stdout).toMatch(/lab-fault \[[a-z0-9]+\.3\] aborted \[runner-abort\]/);
    const data = JSON.parse((await cli(['results', id, '--json'], env)).stdout) as {
      result: string;
      jobs: { name: string; tests: unknown[] }[];
    };
    expect(data.result).toBe('aborted');
    expect(data.jobs.find((j) => j.name === 'good')?.tests).toHaveLength(3);
  });

  it('job, artifacts and status show one job, download an artifact and filter submissions', async () => {
    const job = await cli(['job', `${id}.3`], env);
    expect(job.stdout).toMatch(/state\s+done — aborted \[runner-abort\]/);
    expect(job.stdout).toMatch(/temporal\s+http/);
    expect(JSON.parse((await cli(['job', `${id}.1`, '--json'], env)).stdout)).toMatchObject({
      id: `${id}.1`,
      result: { kind: 'passed' },
    });

    const list = JSON.parse((await cli(['artifacts', `${id}.1`, '--json'], env)).stdout) as { name: string }[];
    const png = list.find((a) => a.name.endsWith('.png'))!;
    expect(png).toBeDefined();
    const file = path.join(dir, 'shot.png');
    expect((await cli(['artifacts', `${id}.1`, png.name, '-o', file], env)).code).toBe(0);
    expect((await fs.readFile(file)).subarray(1, 4).toString()).toBe('PNG');

    const table = await cli(['status', '--result', 'aborted'], env);
    expect(table.stdout).toMatch(/^SUBMISSION\s+RESULT\s+CREATED/);
    expect(table.stdout).toContain(id);
    expect((await cli(['status', '--result', 'passed'], env)).stdout).not.toContain(id);
  });

  it('results covers batch runs: a JUnit testcase per test (lost as an error, failed as a failure, flaky noted) and the verdicts', async () => {
    const batch = await lab.run(
      {
        name: 'batch-ci',
        batchRuns: [
          {
            name: 'devices',
            workerClass: 'local',
            runner: { command: ['batch-test'] },
            settings: { TEST_MS: '10', FLAKY_DIR: path.join(dir, 'flaky') },
            batchSize: 4,
            retryFailed: 1,
            requeueLimit: 0,
            tests: ['ok-1', 'fail-1', 'flaky-1', 'poison-1', 'ok-2'],
          },
        ],
      },
      90_000,
    );
    const run = batch.batchRuns![0]!;
    expect(run.counts).toMatchObject({ passed: 2, failed: 1, flaky: 1, lost: 1 });

    const out = path.join(dir, 'batch.xml');
    const r = await cli(['results', batch.id, '--junit', '-o', out], env);
    expect(r.code).toBe(0);
    const doc = new XMLParser({
      ignoreAttributes: false,
      isArray: (name) => name === 'testsuite' || name === 'testcase' || name === 'property',
    }).parse(await fs.readFile(out, 'utf8')) as {
      testsuites: {
        '@_tests': string;
        '@_failures': string;
        '@_errors': string;
        testsuite: (Suite & { 'system-out'?: string; testcase: (Case & { 'system-out'?: string })[] })[];
      };
    };
    const suite = doc.testsuites.testsuite.find((s) => s['@_name'] === 'devices')!;
    expect(suite).toBeDefined();
    expect(suite['@_tests']).toBe('5');
    expect(suite['@_failures']).toBe('1');
    expect(suite['@_errors']).toBe('1');
    const cases: Record<string, Case & { 'system-out'?: string }> = Object.fromEntries(
      suite.testcase.map((c) => [c['@_name'], c]),
    );
    expect(Object.keys(cases).sort()).toEqual(['fail-1', 'flaky-1', 'ok-1', 'ok-2', 'poison-1']);
    expect(cases['fail-1']!.failure?.['@_type']).toBe('failed');
    expect(cases['fail-1']!.failure?.['@_message']).toMatch(/fail-1: assertion failed/);
    expect(cases['poison-1']!.error?.['@_type']).toBe('lost');
    expect(cases['poison-1']!.error?.['@_message']).toMatch(/^lost 1 times \(requeueLimit 0\)/);
    expect(cases['flaky-1']!.failure).toBeUndefined();
    expect(cases['flaky-1']!['system-out']).toMatch(/^flaky: passed after 1 failed run/);
    expect(cases['ok-1']!.failure ?? cases['ok-1']!.error).toBeUndefined();
    expect(cases['ok-1']!['@_classname']).toBe('devices');
    expect(suite.properties.property).toContainEqual({ '@_name': 'testbay.flaky', '@_value': 'flaky-1' });
    expect(Number(doc.testsuites['@_errors'])).toBe(1);

    const text = await cli(['results', run.id], env);
    expect(text.stdout).toMatch(
      new RegExp(
        `^batch run devices \\[${run.id.replace('.', '\\.')}\\] aborted: 5/5 done: passed 2, failed 1, flaky 1, lost 1`,
        'm',
      ),
    );
    expect(text.stdout).toMatch(/^ {2}FAILED fail-1: fail-1: assertion failed \(2 attempts\)$/m);
    expect(text.stdout).toMatch(/^ {2}LOST poison-1: lost 1 times/m);
    expect(text.stdout).toMatch(/^ {2}FLAKY flaky-1: passed after 1 failed run\(s\) \(2 attempts\)$/m);
    const data = JSON.parse((await cli(['results', batch.id, '--json'], env)).stdout) as {
      batchRuns: { id: string; counts: { lost: number }; verdicts: { test: string; verdict: string }[] }[];
    };
    expect(data.batchRuns).toHaveLength(1);
    expect(data.batchRuns[0]!.verdicts.map((v) => [v.test, v.verdict]).sort()).toEqual([
      ['fail-1', 'failed'],
      ['flaky-1', 'flaky'],
      ['ok-1', 'passed'],
      ['ok-2', 'passed'],
      ['poison-1', 'lost'],
    ]);
    // One batch alone: its own tests, like a job.
    const one = JSON.parse((await cli(['results', `${run.id}.1`, '--json'], env)).stdout) as {
      jobs: { id: string; tests: unknown[] }[];
      batchRuns: unknown[];
    };
    expect(one.jobs.map((j) => j.id)).toEqual([`${run.id}.1`]);
    expect(one.jobs[0]!.tests.length).toBeGreaterThan(0);
    expect(one.batchRuns).toEqual([]);
    // `testbay job` of the run itself: the run like a job, not "no job".
    const shown = await cli(['job', run.id], env);
    expect(shown.stdout).toMatch(
      new RegExp(`^batch run devices \\[${run.id.replace('.', '\\.')}\\] of submission ${batch.id}$`, 'm'),
    );
    expect(shown.stdout).toMatch(/^ {2}tests {6}5\/5 done: passed 2, failed 1, flaky 1, lost 1/m);
  }, 120_000);

  it('host commands print JSON for scripts', async () => {
    const broken = JSON.parse((await cli(['mark-broken', 'r2', '--reason', 'fan died', '--json'], env)).stdout) as {
      state: string;
      broken: { reason: string };
    };
    expect(broken.state).toBe('broken');
    expect(broken.broken.reason).toContain('fan died');
    expect(JSON.parse((await cli(['clear-broken', 'r2', '--json'], env)).stdout)).toMatchObject({
      id: 'r2',
      state: 'idle',
    });
    expect(JSON.parse((await cli(['maintenance', 'r2', 'on', '--json'], env)).stdout)).toMatchObject({
      id: 'r2',
      state: 'maintenance',
    });
    await lab.stopHost('r2');
    expect((await cli(['remove-host', 'r2'], env)).stdout).toBe('r2: removed\n');
    const hosts = JSON.parse((await cli(['hosts', '--json'], env)).stdout) as { hosts: { id: string }[] };
    expect(hosts.hosts.map((h) => h.id)).toEqual(['r1']);
  });
});
