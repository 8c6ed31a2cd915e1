/**
 * Results people act on, over submissions that really ran in a lab: a scenario's history
 * with its last good run and first bad one since, what changed since the last good run
 * (settings, test code with the git log the host recorded, per-test results, host
 * capabilities), comments with bug references, labels, carry-over of a bug reference to
 * the next failure of the same tests (and not to another failure), the review list, and
 * rerunning what failed of a submission. Through the API and the real CLI.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvestigationView, ScenarioHistory } from '../../src/api/routes/scenarios.js';
import { startServer } from '../../src/api/server.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { cli } from '../helpers/cli.js';
import { osTest, TestLab } from '../helpers/lab.js';

let lab: TestLab;
let repo: string;
const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd: repo,
    encoding: 'utf8',
  }).trim();
const commit = async (subject: string) => {
  await fs.appendFile(path.join(repo, 'suite.txt'), `${subject}\n`);
  git('commit', '--quiet', '-am', subject);
  return git('rev-parse', 'HEAD');
};
const cliEnv = () => ({ ...lab.env, TESTBAY_TOKEN: lab.tokens.submit });

beforeAll(async () => {
  lab = await TestLab.start({
    name: 'review',
    hosts: [{ id: 'r1', caps: { memory_gb: '16' } }],
    // On PostgreSQL: a second API server (public badges) can share the database.
    engine: 'postgres',
    env: {
      TESTBAY_BUG_REFS: JSON.stringify({
        'bsc#': 'https://bugzilla.example.com/show_bug.cgi?id=',
        'gh#': 'https://github.com/',
      }),
    },
  });
  repo = path.join(lab.dir, 'tests-repo');
  await fs.mkdir(repo);
  git('init', '--quiet', '-b', 'main');
  await fs.writeFile(path.join(repo, 'suite.txt'), 'suite v1\n');
  git('add', '.');
  git('commit', '--quiet', '-m', 'first suite');
}, 120_000);
afterAll(async () => {
  await lab?.stop();
});

/** One run of the `install` scenario (ARCH is a scenario key, MODULES and FAIL_MODULE are not). */
const install = (settings: Record<string, string> = {}) => ({
  defaults: { scenarioKeys: ['ARCH'] },
  jobs: [
    osTest(
      'install',
      { ARCH: 'x86_64', MODULE_MS: '20', SCREENSHOTS: '0', ...settings },
      { tests: { git: repo, ref: 'main' } },
    ),
  ],
});

describe('scenarios, investigation and review over real runs', () => {
  const key = 'install@local+ARCH=x86_64';
  let good: string;
  let bad: string;

  it("lists a scenario's history with its last good run and the first bad one since; unknown scenarios are 404", async () => {
    const first = await lab.run(install());
    expect(first.result).toBe('passed');
    good = first.jobs[0]!.id;
    await commit('rework the login screen');
    const head = await commit('login: wait less');
    const second = await lab.run(install({ FAIL_MODULE: 'login', MODULES: 'boot,install,login,extra' }));
    expect(second.result).toBe('failed');
    bad = second.jobs[0]!.id;
    const job = await lab.api.job(bad);
    expect(job.scenario).toBe(key);

    const h = await lab.api.scenarioHistory(key);
    expect(h.runs.map((r) => [r.jobId, r.result?.kind, r.hostId])).toEqual([
      [bad, 'failed', 'r1'],
      [good, 'passed', 'r1'],
    ]);
    expect(h.runs[0]!.testsCommit).toBe(head);
    expect(h.lastGood?.jobId).toBe(good);
    expect(h.firstBadSince?.jobId).toBe(bad);
    expect(h.scenario).toMatchObject({ name: 'install', workerClass: 'local', settings: { ARCH: 'x86_64' } });

    const byJob = await cli(['history', bad, '--json'], cliEnv());
    expect(byJob.code).toBe(0);
    expect((JSON.parse(byJob.stdout) as ScenarioHistory).runs.map((r) => r.jobId)).toEqual([bad, good]);
    const text = await cli(['history', key, '--limit', '1'], cliEnv());
    expect(text.stdout).toContain(`last good: ${good}`);
    expect(text.stdout).toContain(`first bad since: ${bad}`);
    expect(text.stdout.split('\n').filter((l) => l.startsWith('failed') || l.startsWith('passed'))).toHaveLength(1);

    const unknown = await cli(['history', 'install@nowhere'], cliEnv());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no scenario install@nowhere');
    const res = await fetch(`${lab.api.baseUrl}/api/v1/scenarios/${encodeURIComponent('nope@local')}/history`, {
      headers: { authorization: `Bearer ${lab.tokens.submit}` },
    });
    expect(res.status).toBe(404);
    const list = await lab.api.submissions({ scenario: key, limit: '10' });
    expect(list.submissions.map((s) => s.id).sort()).toEqual([good, bad].map((j) => j.split('.')[0]!).sort());
  });

  it('says what changed since the last good run, from the database', async () => {
    const v = await lab.api.investigation(bad);
    expect(v.lastGood).toMatchObject({ jobId: good });
    expect(v.settings).toEqual({
      added: { FAIL_MODULE: 'login' },
      removed: {},
      changed: { MODULES: { before: 'boot,install,login', after: 'boot,install,login,extra' } },
    });
    expect(v.testCode?.log?.map((l) => l.replace(/^[0-9a-f]+ /, ''))).toEqual([
      'login: wait less',
      'rework the login screen',
    ]);
    expect(v.testCode?.commit?.before).not.toBe(v.testCode?.commit?.after);
    expect(v.tests).toEqual({
      newlyFailing: ['os-test.login'],
      newlyPassing: [],
      appeared: ['os-test.extra'],
      disappeared: [],
    });
    expect(v.host).toBeUndefined(); // the same host, with the same capabilities
    expect((await lab.api.investigation(good)).lastGood).toEqual({
      none: 'no passed run of this scenario is on record',
    });
    const printed = await cli(['investigate', bad], cliEnv());
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain('newly failing: os-test.login');
    expect(printed.stdout).toContain('login: wait less');
    const asJson = JSON.parse((await cli(['investigate', bad, '--json'], cliEnv())).stdout) as InvestigationView;
    expect(asJson.tests?.newlyFailing).toEqual(['os-test.login']);
  });

  it('keeps comments with bug links and labels; the review list holds failed jobs without a comment; the next same failure carries the bug over, another does not', async () => {
    expect((await lab.api.needsReview()).jobs.map((j) => j.jobId)).toContain(bad);
    const added = await cli(['comment', bad, 'login', 'broken:', 'bsc#1234', '<b>not html</b>', '--json'], cliEnv());
    expect(added.code).toBe(0);
    const c = JSON.parse(added.stdout) as { author: string; text: string; parts: unknown[] };
    expect(c.author).toBe('tester');
    expect(c.text).toBe('login broken: bsc#1234 <b>not html</b>');
    expect(c.parts).toEqual([
      { text: 'login broken: ' },
      { ref: 'bsc#1234', url: 'https://bugzilla.example.com/show_bug.cgi?id=1234' },
      { text: ' <b>not html</b>' },
    ]);
    expect((await lab.api.needsReview()).jobs.map((j) => j.jobId)).not.toContain(bad);
    expect((await cli(['label', bad, 'needs-bug', '--json'], cliEnv())).code).toBe(0);
    expect((await lab.api.labels(bad)).labels.map((l) => [l.label, l.addedBy])).toEqual([['needs-bug', 'tester']]);
    const badLabel = await cli(['label', bad, 'Not A Label'], cliEnv());
    expect(badLabel.code).toBe(2);
    // Who commented and labelled is in the audit log.
    const audit = (await (
      await fetch(`${lab.api.baseUrl}/api/v1/audit?target=${bad}`, {
        headers: { authorization: `Bearer ${lab.tokens.operate}` },
      })
    ).json()) as { entries: { action: string; actor: string; details?: Record<string, unknown> }[] };
    expect(audit.entries.map((e) => [e.action, e.actor, e.details?.label ?? null]).sort()).toEqual([
      ['comment', 'tester', null],
      ['label', 'tester', 'needs-bug'],
    ]);

    const again = await lab.run(install({ FAIL_MODULE: 'login', MODULES: 'boot,install,login,extra' }));
    const third = again.jobs[0]!.id;
    const carried = (await lab.api.comments(third)).comments;
    expect(carried).toEqual([
      expect.objectContaining({ author: 'testbay', carriedOverFrom: bad, text: `carried over from ${bad}: bsc#1234` }),
    ]);
    expect((await lab.api.needsReview()).jobs.map((j) => j.jobId)).not.toContain(third);

    const other = await lab.run(install({ FAIL_MODULE: 'boot' }));
    const fourth = other.jobs[0]!.id;
    expect((await lab.api.comments(fourth)).comments).toEqual([]);
    const review = await cli(['review', '--json'], cliEnv());
    expect((JSON.parse(review.stdout) as { jobId: string }[]).map((j) => j.jobId)[0]).toBe(fourth);

    // A comment on the submission; one of 1 MB is refused whole.
    const sub = fourth.split('.')[0]!;
    expect((await lab.api.comment(sub, 'see gh#org/repo#12')).parts).toEqual([
      { text: 'see ' },
      { ref: 'gh#org/repo#12', url: 'https://github.com/org/repo/issues/12' },
    ]);
    const huge = await fetch(`${lab.api.baseUrl}/api/v1/jobs/${fourth}/comments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${lab.tokens.submit}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'x'.repeat(1024 * 1024) }),
    });
    expect(huge.status).toBe(413);
    const empty = await cli(['comment', 'zzzzzzzz.1', 'hello'], cliEnv());
    expect(empty.code).toBe(2);
  });

  it('serves a badge of the latest result, and only with a token unless badges are public', async () => {
    const url = `${lab.api.baseUrl}/api/v1/scenarios/${encodeURIComponent(key)}/badge.svg`;
    expect((await fetch(url)).status).toBe(401);
    const res = await fetch(url, { headers: { authorization: `Bearer ${lab.tokens.submit}` } });
    expect(res.headers.get('content-type')).toMatch(/image\/svg\+xml/);
    const svg = await res.text();
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain('>failed</text>');
    expect(
      (
        await fetch(`${lab.api.baseUrl}/api/v1/scenarios/nope@local/badge.svg`, {
          headers: { authorization: `Bearer ${lab.tokens.submit}` },
        })
      ).status,
    ).toBe(404);
    // Another API server on the same database, with public badges: no token needed there, for badges only.
    const open = await startServer(
      loadConfig({ ...lab.env, TESTBAY_PUBLIC_BADGES: '1', TESTBAY_PORT: '0' }),
      createLogger('badges', 'error', () => undefined),
      0,
    );
    try {
      const pub = await fetch(`${open.url}/api/v1/scenarios/${encodeURIComponent(key)}/badge.svg`);
      expect(pub.status).toBe(200);
      expect(await pub.text()).toContain('>failed</text>');
      expect((await fetch(`${open.url}/api/v1/scenarios/${encodeURIComponent(key)}/history`)).status).toBe(401);
      expect((await fetch(`${open.url}/api/v1/scenarios/nope@local/badge.svg`)).status).toBe(404);
    } finally {
      await open.close();
    }
  });

  it('reruns what failed of a submission: failed, aborted and skipped jobs with the chain before them, not the jobs that passed', async () => {
    const fast = { MODULE_MS: '20', SCREENSHOTS: '0' };
    const first = await lab.run({
      jobs: [
        osTest('prep', fast),
        osTest('chained', { ...fast, FAIL_MODULE: 'install' }, { startDirectlyAfter: 'prep' }),
        osTest('ok', fast),
        osTest('after', { ...fast, FAIL_MODULE: 'boot' }, { startAfter: ['ok'] }),
        osTest('below', fast, { startAfter: ['chained'] }),
      ],
    });
    expect(Object.fromEntries(first.jobs.map((j) => [j.name, j.result?.kind]))).toEqual({
      prep: 'passed',
      chained: 'failed',
      ok: 'passed',
      after: 'failed',
      below: 'skipped',
    });
    const out = await cli(['restart', first.id, '--failed', '--json'], cliEnv());
    expect(out.code, out.stderr).toBe(0);
    const created = JSON.parse(out.stdout) as { id: string; jobs: { name: string }[] };
    expect(created.jobs.map((j) => j.name).sort()).toEqual(['after', 'below', 'chained', 'prep']);
    const rerun = await lab.waitForSubmission(created.id);
    expect(rerun.restartOf?.submissionId).toBe(first.id);
    expect(Object.fromEntries(rerun.jobs.map((j) => [j.name, j.result?.kind]))).toEqual({
      prep: 'passed',
      chained: 'failed',
      after: 'failed',
      below: 'skipped',
    });
    // Attempts go on counting from the submission they rerun.
    expect(rerun.jobs.find((j) => j.name === 'chained')?.attempt).toBe(2);
    const passed = await lab.run({ jobs: [osTest('fine', fast)] });
    const nothing = await cli(['restart', passed.id, '--failed'], cliEnv());
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('no failed, aborted or skipped job to rerun');
    expect((await cli(['restart', passed.id], cliEnv())).code).toBe(2);
  });
});
