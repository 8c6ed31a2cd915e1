/**
 * Re-scheduling and failover on a real lab: a host killed with SIGKILL mid-job (the retry
 * passes elsewhere, lineage kept, the dead host's runner stopped by its runner guard),
 * retries exhausted, no host left, and a frozen (SIGSTOP) host whose late results are
 * refused and whose runner is stopped when it wakes.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { groupMembers, isPidLive as processAlive } from '../../src/activities/host/process-group.js';
import type { JobView, SubmissionView } from '../../src/domain/views.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'failover',
    hosts: [
      { id: 'f1', caps: { group: 'ab' } },
      { id: 'f2', caps: { group: 'ab' } },
      { id: 'f3', caps: { group: 'c' } },
    ],
    // These tests abort on purpose; the broken-host rule has its own test file.
    env: { TESTBAY_BROKEN_AFTER_ABORTS: '100' },
  });
});
afterEach(async () => {
  await lab.cancelRunning();
  for (const id of ['f1', 'f2', 'f3']) {
    const child = lab.hosts.get(id);
    if (child?.signalCode === 'SIGSTOP' || child?.exitCode !== null || child.signalCode !== null)
      await lab.startHost({ id, caps: { group: id === 'f3' ? 'c' : 'ab' } });
  }
});
afterAll(async () => {
  await lab?.stop();
});

const attempts = (v: SubmissionView, name: string): JobView[] =>
  v.jobs.filter((j) => j.name === name).sort((a, b) => a.attempt - b.attempt);

/** Waits until the job runs in `module`; returns the host and the runner's process group. */
async function runningIn(jobId: string, module: string) {
  const job = await waitFor(`job ${jobId} in module ${module}`, async () => {
    const j = await lab.api.job(jobId);
    return j.state === 'running' && j.progress?.module === module ? j : undefined;
  });
  const pgid = Number(await fs.readFile(path.join(lab.workDirOf(job.hostId!), 'runners', `${jobId}.pid`), 'utf8'));
  return { hostId: job.hostId!, pgid };
}

describe('failover', () => {
  it('re-runs the recipe set on another host when its host is killed mid-job, keeping the first attempt', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [
        osTest(
          'install',
          { HANG_MODULE: 'install', HANG_ATTEMPT: '1', STUBBORN_CHILD: '1', ESCAPED_CHILD: '1' },
          { maxRetries: 1 },
        ),
      ],
    });
    const first = await runningIn(jobs[0]!.id, 'install');
    // Killed once the host has uploaded the boot module's last line (its log is flushed in chunks).
    await waitFor('the boot module uploaded', async () =>
      /\[boot\] ok/.test(await lab.api.log(jobs[0]!.id)) ? true : undefined,
    );
    const escaped = Number(
      await waitFor('the escaped child', () =>
        fs
          .readFile(path.join(lab.workDirOf(first.hostId), 'jobs', jobs[0]!.id, 'results', 'escaped.pid'), 'utf8')
          .catch(() => undefined),
      ),
    );
    const killedAt = Date.now();
    lab.signalHost(first.hostId, 'SIGKILL');
    const view = await lab.waitForSubmission(id);
    expect(view.result).toBe('passed');
    const [a1, a2] = attempts(view, 'install');
    expect(a1!.result).toMatchObject({
      kind: 'aborted',
      cause: 'host-lost',
      reason: expect.stringMatching(
        new RegExp(`^host ${first.hostId} stopped heartbeating at \\d\\d:\\d\\d:\\d\\d while running \`install\``),
      ),
    });
    expect(a2!.result).toEqual({ kind: 'passed' });
    expect(a2!.hostId).not.toBe(first.hostId);
    expect(a2!.clonedFrom).toBe(a1!.id);
    expect(a1!.retriedAs).toBe(a2!.id);
    expect(
      view.recipeSets.map((s) => ({
        number: s.number,
        attempt: s.attempt,
        clonedFrom: s.clonedFrom,
        excluded: s.excludedHosts,
      })),
    ).toEqual([
      { number: 1, attempt: 1, clonedFrom: undefined, excluded: [] },
      { number: 2, attempt: 2, clonedFrom: 1, excluded: [first.hostId] },
    ]);
    // The retry started within the heartbeat timeout (3 s here) and a margin.
    expect(new Date(a2!.startedAt!).getTime() - killedAt).toBeLessThan(3_000 + 3_000);
    // What the first attempt uploaded before its host died is kept.
    expect(await lab.api.log(a1!.id)).toMatch(/\[boot\] ok/);
    expect((await lab.host(first.hostId))!.state).toBe('offline');

    // The dead host's runner, with its grandchild that ignores SIGTERM, does not outlive it:
    // the host's runner guard stops the whole group; the restarted host finds nothing left.
    await waitFor("the dead host's runner group to be stopped", () => groupMembers(first.pgid).length === 0, 10_000);
    // And the child that left the group (setsid), found by its environment.
    await waitFor('the escaped child to be stopped', () => !processAlive(escaped), 10_000);
    await lab.startHost({ id: first.hostId, caps: { group: first.hostId === 'f3' ? 'c' : 'ab' } });
    expect(groupMembers(first.pgid)).toEqual([]);
  });

  it('gives up after maxRetries, saying so', async () => {
    const view = await lab.run({
      jobs: [osTest('crashy', { CRASH_MODULE: 'boot', MODULES: 'boot' }, { maxRetries: 1 })],
    });
    expect(view.result).toBe('aborted');
    const [a1, a2] = attempts(view, 'crashy');
    expect(a1!.result).toMatchObject({ kind: 'aborted', cause: 'runner-crash' });
    expect(a2!.result).toEqual({
      kind: 'aborted',
      cause: 'runner-crash',
      reason: 'runner was killed by SIGSEGV before it reported a result; gave up after 2 attempts (maxRetries 1)',
    });
    expect(a2!.hostId).not.toBe(a1!.hostId);
    expect(view.recipeSets[1]!.notRetried).toBe('not re-scheduled: maxRetries (1) reached after 2 attempts');
  });

  it('does not make a clone when no candidate host is left, and says why', async () => {
    const view = await lab.run({
      jobs: [
        osTest('picky', { CRASH_MODULE: 'boot', MODULES: 'boot' }, { maxRetries: 3, hostRequires: ['group == ab'] }),
      ],
    });
    const tries = attempts(view, 'picky');
    expect(tries).toHaveLength(2);
    expect(new Set(tries.map((t) => t.hostId))).toEqual(new Set(['f1', 'f2']));
    const reason = `not re-scheduled: no host of class local with group == ab left after excluding ${tries.map((t) => t.hostId).join(', ')}`;
    expect(view.recipeSets.at(-1)!.notRetried).toBe(reason);
    expect(tries[1]!.result).toMatchObject({ kind: 'aborted', reason: expect.stringContaining(reason) });
    expect(tries[1]!.retriedAs).toBeUndefined();
  });

  it('refuses the late results of a frozen host and stops its runner when it wakes', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [osTest('frozen', { HANG_MODULE: 'install', HANG_ATTEMPT: '1' }, { maxRetries: 1 })],
    });
    const first = await runningIn(jobs[0]!.id, 'install');
    lab.signalHost(first.hostId, 'SIGSTOP');
    const view = await lab.waitForSubmission(id);
    expect(view.result).toBe('passed');
    const [a1, a2] = attempts(view, 'frozen');
    expect(a1!.result).toMatchObject({ kind: 'aborted', cause: 'host-lost' });
    expect(a2!.hostId).not.toBe(first.hostId);
    const sealed = await lab.api.job(a1!.id);
    expect(groupMembers(first.pgid).length).toBeGreaterThan(0);

    lab.signalHost(first.hostId, 'SIGCONT');
    // The zombie notices its lease is gone: its runner is stopped, and it comes back online.
    await waitFor('the zombie runner to be stopped', () => groupMembers(first.pgid).length === 0, 20_000);
    await waitFor('the host to be back', async () => (await lab.host(first.hostId))?.state === 'idle', 20_000);
    const after = await lab.api.job(a1!.id);
    expect(after.result).toEqual(sealed.result);
    expect(after.logBytes).toBe(sealed.logBytes);
    expect(after.artifacts).toEqual(sealed.artifacts);
    expect((await lab.api.submission(id)).result).toBe('passed');
  });
});
