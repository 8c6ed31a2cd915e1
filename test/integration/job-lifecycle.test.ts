/**
 * One job end to end on a real Temporal dev server with real host processes: passed,
 * failed (never retried), cancelled (the whole process group stopped) and timed out.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupMembers, isPidLive as isAlive } from '../../src/activities/host/process-group.js';
import { HostKey, ResultKey, SubmissionKey } from '../../src/workflows/search-attributes.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'lifecycle', hosts: [{ id: 'h1' }, { id: 'h2' }] });
});
afterAll(async () => {
  await lab?.stop();
});

/** Waits until the job's runner is running in the given module; returns its pids. */
async function runnerIn(jobId: string, module: string) {
  const job = await waitFor(`job ${jobId} to reach module ${module}`, async () => {
    const j = await lab.api.job(jobId);
    return j.state === 'running' && j.progress?.module === module ? j : undefined;
  });
  const workDir = lab.workDirOf(job.hostId!);
  const pgid = Number(
    await waitFor('the runner pid file', () => fs.readFile(path.join(workDir, 'runners', `${jobId}.pid`), 'utf8')),
  );
  const stubborn = Number(
    await waitFor('the grandchild pid file', () =>
      fs.readFile(path.join(workDir, 'jobs', jobId, 'results', 'stubborn.pid'), 'utf8').catch(() => undefined),
    ),
  );
  return { job, pgid, stubborn };
}

describe('a job', () => {
  it('passes, with its log, per-test results, screenshots and search attributes', async () => {
    const { id, jobs } = await lab.submit({ name: 'pass', jobs: [osTest('hello')] });
    const view = await lab.waitForSubmission(id);
    expect(view.result).toBe('passed');
    const job = await lab.api.job(jobs[0]!.id);
    expect(job.result).toEqual({ kind: 'passed' });
    expect(job.tests.map((t) => `${t.name}:${t.status}`)).toEqual(['boot:passed', 'install:passed', 'login:passed']);
    expect(job.artifacts.map((a) => a.name)).toEqual(
      expect.arrayContaining(['junit.xml', 'screenshots/boot.png', 'screenshots/login.png']),
    );
    expect(await lab.api.log(job.id)).toMatch(/\[login\] ok/);
    const png = await lab.api.artifact(job.id, 'screenshots/boot.png');
    expect(png.subarray(1, 4).toString()).toBe('PNG');

    const found = await waitFor('workflows to be visible by search attribute', async () => {
      const ids: string[] = [];
      for await (const wf of lab.temporal.workflow.list({ query: `TestbaySubmission = "${id}"` }))
        ids.push(wf.workflowId);
      return ids.length >= 3 ? ids.sort() : undefined;
    });
    expect(found).toEqual([`chain-${id}-1-${job.hostId}`, `rs-${id}-1`, `sub-${id}`]);
    const sub = await lab.temporal.workflow.getHandle(`sub-${id}`).describe();
    expect(sub.typedSearchAttributes.get(SubmissionKey)).toBe(id);
    expect(sub.typedSearchAttributes.get(ResultKey)).toBe('passed');
    expect(sub.typedSearchAttributes.get(HostKey)).toEqual([job.hostId]);
  });

  it('fails when a test fails, and is not retried even with maxRetries', async () => {
    const view = await lab.run({ jobs: [osTest('broken', { FAIL_MODULE: 'install' }, { maxRetries: 2 })] });
    expect(view.result).toBe('failed');
    expect(view.jobs).toHaveLength(1);
    expect(view.jobs[0]!.result).toEqual({
      kind: 'failed',
      reason: 'runner exited with code 1; 1 of 3 tests failed: `install`',
    });
  });

  it('gives the runner its settings and the TESTBAY_ variables, and nothing of the host', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [
        {
          name: 'env',
          workerClass: 'local',
          runner: { command: ['sh', '-c', 'env > "$TESTBAY_RESULTS_DIR/env.txt"'] },
          settings: { DISTRI: 'tumbleweed', BUILD: 42 },
        },
      ],
    });
    await lab.waitForSubmission(id);
    const env = (await lab.api.artifact(jobs[0]!.id, 'env.txt')).toString();
    expect(env).toMatch(/^DISTRI=tumbleweed$/m);
    expect(env).toMatch(/^BUILD=42$/m);
    expect(env).toMatch(new RegExp(`^TESTBAY_JOB_ID=${jobs[0]!.id.replace('.', '\\.')}$`, 'm'));
    expect(env).toMatch(/^TESTBAY_JOB=env$/m);
    expect(env).toMatch(/^TESTBAY_ATTEMPT=1$/m);
    expect(env).toMatch(/^TESTBAY_HOST=h[12]$/m);
    expect(env).toMatch(/^TESTBAY_RESULTS_DIR=\//m);
    expect(env).not.toMatch(/TESTBAY_HOST_TOKEN|TESTBAY_TOKENS|TEMPORAL_ADDRESS/);
  });

  it('when cancelled while running, stops its runner and every descendant, and ends cancelled', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [osTest('hangs', { HANG_MODULE: 'install', STUBBORN_CHILD: '1', ESCAPED_CHILD: '1' })],
    });
    const { job, pgid, stubborn } = await runnerIn(jobs[0]!.id, 'install');
    // A descendant that left the group (setsid) and ignores SIGTERM: found by its environment.
    const escaped = Number(
      await fs.readFile(path.join(lab.workDirOf(job.hostId!), 'jobs', job.id, 'results', 'escaped.pid'), 'utf8'),
    );
    expect(isAlive(pgid) && isAlive(stubborn) && isAlive(escaped)).toBe(true);
    expect(groupMembers(pgid)).not.toContain(escaped);
    await lab.submitter.cancelJob(jobs[0]!.id, 'no longer needed');
    const view = await lab.waitForSubmission(id);
    expect(view.result).toBe('cancelled');
    expect(view.jobs[0]!.result).toEqual({ kind: 'cancelled', reason: 'cancelled by tester: no longer needed' });
    expect(groupMembers(pgid)).toEqual([]);
    expect(isAlive(stubborn)).toBe(false);
    await waitFor('the escaped child to be stopped', () => !isAlive(escaped), 10_000, 50);
  });

  it('is aborted when its runner exceeds timeoutMs, saying so, with nothing left running', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [osTest('slow', { HANG_MODULE: 'install', STUBBORN_CHILD: '1' }, { timeoutMs: 2_500 })],
    });
    const { pgid, stubborn } = await runnerIn(jobs[0]!.id, 'install');
    const view = await lab.waitForSubmission(id);
    expect(view.result).toBe('aborted');
    expect(view.jobs[0]!.result).toEqual({
      kind: 'aborted',
      cause: 'run-timeout',
      reason: 'runner exceeded timeoutMs (2.5 s) in module `install`; stopped',
    });
    expect(groupMembers(pgid)).toEqual([]);
    expect(isAlive(stubborn)).toBe(false);
    expect(await lab.api.log(jobs[0]!.id)).toMatch(/hanging/);
  });

  it('is aborted, not failed, when the runner crashes or declares an abort', async () => {
    const crash = await lab.run({ jobs: [osTest('crash', { CRASH_MODULE: 'install' })] });
    expect(crash.jobs[0]!.result).toEqual({
      kind: 'aborted',
      cause: 'runner-crash',
      reason: 'runner was killed by SIGSEGV before it reported a result',
    });
    const declared = await lab.run({ jobs: [osTest('tempfail', { ABORT_MODULE: 'boot' })] });
    expect(declared.jobs[0]!.result).toEqual({
      kind: 'aborted',
      cause: 'runner-abort',
      reason: 'runner aborted: module boot: test infrastructure unavailable',
    });
  });
});
