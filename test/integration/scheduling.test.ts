/**
 * Scheduling on a real lab: chains on one host with nothing in between, skip and cancel
 * rules of chains (AC2, AC3), parallel partners, after-edges, all-or-nothing leases,
 * priority, waiting reasons, impossible requests, phase deadlines, queue timeouts, restart,
 * search attributes, and leases that come back when their holder gave up or is gone.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { groupMembers, isPidLive as isAlive } from '../../src/activities/host/process-group.js';
import { CONTROL_TASK_QUEUE, SCHEDULER_WORKFLOW_ID } from '../../src/domain/ids.js';
import { validateSpec } from '../../src/domain/parse-spec.js';
import { buildPlan } from '../../src/domain/plan.js';
import type { JobView, SubmissionView } from '../../src/domain/views.js';
import {
  cancelLeaseRequestSignal,
  configureSignal,
  DEFAULT_SCHEDULER_CONFIG,
  labQuery,
  requestLeaseSignal,
} from '../../src/workflows/scheduler-messages.js';
import { HostKey, JobKey, ResultKey } from '../../src/workflows/search-attributes.js';
import type { SubmissionWorkflowInput } from '../../src/workflows/submission.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'scheduling',
    hosts: [
      { id: 's1', caps: { slot: 's1' } },
      { id: 's2', caps: { slot: 's2' } },
      { id: 's3', caps: { slot: 's3' } },
    ],
    // Some tests abort jobs on purpose; the broken-host rule has its own test file.
    env: { TESTBAY_BROKEN_AFTER_ABORTS: '100' },
  });
});
afterEach(async () => {
  await lab.cancelRunning();
});
afterAll(async () => {
  await lab?.stop();
});

const byName = (v: SubmissionView) => Object.fromEntries(v.jobs.map((j) => [j.name, j])) as Record<string, JobView>;
const on = (slot: string) => ({ hostRequires: [`slot == ${slot}`] });
const hang = (name: string, slot: string) => osTest(name, { HANG_MODULE: 'boot' }, on(slot));

async function jobRunning(jobId: string): Promise<void> {
  await waitFor(`job ${jobId} to run`, async () => (await lab.api.job(jobId)).state === 'running');
}
/** Waits until the job's runner is in `module`; returns its process group and the grandchild that ignores SIGTERM. */
async function runnerIn(jobId: string, module: string) {
  const job = await waitFor(`job ${jobId} in module ${module}`, async () => {
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
  return { pgid, stubborn };
}
/** The scheduler's own view, with lease tokens (the API hides them). */
const schedulerLab = () => lab.temporal.workflow.getHandle(SCHEDULER_WORKFLOW_ID).query(labQuery);
const hostState = async (hostId: string) => (await schedulerLab()).hosts.find((h) => h.id === hostId);
async function waitingReason(submissionId: string, name: string, pattern: RegExp): Promise<string> {
  return waitFor(`a waiting reason for ${name} matching ${pattern}`, async () => {
    const j = byName(await lab.api.submission(submissionId))[name];
    return j?.state === 'waiting' && j.waitingReason && pattern.test(j.waitingReason) ? j.waitingReason : undefined;
  });
}

describe('chains (startDirectlyAfter)', () => {
  it('run on one host in order, with no other job between them', async () => {
    const chain = await lab.submit({
      jobs: [
        osTest('c-a', {}, on('s1')),
        osTest('c-b', {}, { ...on('s1'), startDirectlyAfter: 'c-a' }),
        osTest('c-c', {}, { ...on('s1'), startDirectlyAfter: 'c-b' }),
      ],
    });
    await jobRunning(chain.jobs[0]!.id);
    const competitor = await lab.submit({ jobs: [osTest('competitor', {}, on('s1'))] });
    const [c, k] = await Promise.all([lab.waitForSubmission(chain.id), lab.waitForSubmission(competitor.id)]);
    const jobs = byName(c);
    expect(c.result).toBe('passed');
    expect(new Set(c.jobs.map((j) => j.hostId))).toEqual(new Set(['s1']));
    // When each runner ran, from the timestamps of its first and last log lines.
    const span = async (jobId: string) => {
      const stamps = (await lab.api.log(jobId)).split('\n').flatMap((l) => /^(\d{4}-\S+Z) /.exec(l)?.[1] ?? []);
      return { start: stamps[0]!, end: stamps.at(-1)! };
    };
    const [a, b, cc, other] = await Promise.all([
      span(jobs['c-a']!.id),
      span(jobs['c-b']!.id),
      span(jobs['c-c']!.id),
      span(k.jobs[0]!.id),
    ]);
    expect(a.end <= b.start && b.end <= cc.start).toBe(true);
    expect(other.start >= cc.end).toBe(true);

    // The recipe set's workflow says where it ran and how it ended, for Temporal Web;
    // it and its chain are found by job name and by job id.
    const rs = await lab.temporal.workflow.getHandle(`rs-${chain.id}-1`).describe();
    expect(rs.typedSearchAttributes.get(HostKey)).toEqual(['s1']);
    expect(rs.typedSearchAttributes.get(ResultKey)).toBe('passed');
    expect(rs.typedSearchAttributes.get(JobKey)).toEqual(['c-a', 'c-b', 'c-c', ...chain.jobs.map((j) => j.id)]);
    const chainWf = await lab.temporal.workflow.getHandle(`chain-${chain.id}-1-s1`).describe();
    expect(chainWf.typedSearchAttributes.get(JobKey)).toEqual(['c-a', 'c-b', 'c-c', ...chain.jobs.map((j) => j.id)]);
  });

  // A → (B → C, D → E)
  const tree = (failing: string) => ({
    jobs: ['A', 'B', 'C', 'D', 'E'].map((name) =>
      osTest(name, name === failing ? { FAIL_MODULE: 'boot' } : { MODULES: 'boot' }, {
        ...(name === 'B' || name === 'D' ? { startDirectlyAfter: 'A' } : {}),
        ...(name === 'C' ? { startDirectlyAfter: 'B' } : {}),
        ...(name === 'E' ? { startDirectlyAfter: 'D' } : {}),
      }),
    ),
  });

  it('skip everything below a failed root (AC2)', async () => {
    const jobs = byName(await lab.run(tree('A')));
    expect(jobs.A!.result?.kind).toBe('failed');
    expect(jobs.B!.result).toEqual({ kind: 'skipped', reason: 'parent `A` failed' });
    expect(jobs.D!.result).toEqual({ kind: 'skipped', reason: 'parent `A` failed' });
    expect(jobs.C!.result).toEqual({ kind: 'skipped', reason: 'parent `B` was skipped' });
    expect(jobs.E!.result).toEqual({ kind: 'skipped', reason: 'parent `D` was skipped' });
  });

  it('skip only the branch below a failed job; other branches still run (AC2)', async () => {
    const view = await lab.run(tree('B'));
    const jobs = byName(view);
    expect(view.result).toBe('failed');
    expect(jobs.B!.result?.kind).toBe('failed');
    expect(jobs.C!.result).toEqual({ kind: 'skipped', reason: 'parent `B` failed' });
    expect([jobs.A, jobs.D, jobs.E].map((j) => j!.result?.kind)).toEqual(['passed', 'passed', 'passed']);

    // Restart B: it runs again with its chain ancestor A and its child C, linked to the old attempts.
    const again = await lab.submitter.restartJob(jobs.B!.id);
    expect(again.jobs.map((j) => j.name)).toEqual(['A', 'B', 'C']);
    const rerun = await lab.waitForSubmission(again.id);
    expect(rerun.restartOf).toEqual({ submissionId: view.id, jobId: jobs.B!.id });
    expect(byName(rerun).B!.clonedFrom).toBe(jobs.B!.id);
    expect(byName(rerun).A!.clonedFrom).toBe(jobs.A!.id);
    expect((await lab.api.submission(view.id)).restartedAs).toEqual([again.id]);
    const without = await lab.submitter.restartJob(jobs.B!.id, { children: false });
    expect(without.jobs.map((j) => j.name)).toEqual(['A', 'B']);
    await lab.waitForSubmission(without.id);
  });

  it('are cancelled whole when any of their jobs is cancelled while scheduled (AC3)', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [
        osTest('x1', { HANG_MODULE: 'install' }),
        osTest('x2', {}, { startDirectlyAfter: 'x1' }),
        osTest('x3', {}, { startDirectlyAfter: 'x2' }),
      ],
    });
    await jobRunning(jobs[0]!.id);
    expect((await lab.api.job(jobs[1]!.id)).state).toBe('scheduled');
    await lab.submitter.cancelJob(jobs[1]!.id);
    const view = await lab.waitForSubmission(id);
    expect(view.result).toBe('cancelled');
    expect(view.jobs.map((j) => j.result?.kind)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(byName(view).x1!.result).toEqual({ kind: 'cancelled', reason: 'cancelled by tester' });
  });

  it('are cancelled whole when the running job is cancelled: its runner and every descendant stopped (AC3)', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [
        osTest('r1', { HANG_MODULE: 'install', STUBBORN_CHILD: '1' }),
        osTest('r2', {}, { startDirectlyAfter: 'r1' }),
        osTest('r3', {}, { startDirectlyAfter: 'r2' }),
      ],
    });
    const { pgid, stubborn } = await runnerIn(jobs[0]!.id, 'install');
    expect(isAlive(pgid) && isAlive(stubborn)).toBe(true);
    await lab.submitter.cancelJob(jobs[0]!.id, 'wrong build');
    const view = await lab.waitForSubmission(id);
    expect(view.jobs.map((j) => [j.name, j.result])).toEqual([
      ['r1', { kind: 'cancelled', reason: 'cancelled by tester: wrong build' }],
      ['r2', { kind: 'cancelled', reason: 'cancelled by tester: wrong build' }],
      ['r3', { kind: 'cancelled', reason: 'cancelled by tester: wrong build' }],
    ]);
    expect(groupMembers(pgid)).toEqual([]);
    expect(isAlive(stubborn)).toBe(false);
  });

  it('are cancelled whole when any of their jobs is cancelled while still queued, before any lease (AC3)', async () => {
    const busy = await lab.submit({ jobs: [hang('occupant', 's2')] });
    await jobRunning(busy.jobs[0]!.id);
    const { id, jobs } = await lab.submit({
      jobs: [osTest('q1', {}, on('s2')), osTest('q2', {}, { ...on('s2'), startDirectlyAfter: 'q1' })],
    });
    await waitingReason(id, 'q1', /in queue/);
    await lab.submitter.cancelJob(jobs[1]!.id);
    const view = await lab.waitForSubmission(id);
    expect(view.result).toBe('cancelled');
    expect(view.jobs.map((j) => [j.name, j.result?.kind, j.hostId])).toEqual([
      ['q1', 'cancelled', undefined],
      ['q2', 'cancelled', undefined],
    ]);
    expect((await hostState('s2'))!.lease?.label).toMatch(new RegExp(`^${busy.id} `));
    expect((await schedulerLab()).queue).toEqual([]);
  });

  it('do not re-run a set in which a test failed, even though another job of it aborted', async () => {
    // A → (B fails, D crashes): D aborted, but re-running the set would run B's failed test again.
    const view = await lab.run({
      jobs: [
        osTest('A', { MODULES: 'boot' }, { maxRetries: 1 }),
        osTest('B', { FAIL_MODULE: 'boot', MODULES: 'boot' }, { startDirectlyAfter: 'A' }),
        osTest('D', { CRASH_MODULE: 'boot', MODULES: 'boot' }, { startDirectlyAfter: 'A' }),
      ],
    });
    const jobs = byName(view);
    expect(view.jobs).toHaveLength(3);
    expect(view.recipeSets).toHaveLength(1);
    expect(jobs.B!.result?.kind).toBe('failed');
    const why = 'not re-scheduled: `B` failed, and a failed test is never re-run';
    expect(view.recipeSets[0]!.notRetried).toBe(why);
    expect(jobs.D!.result).toEqual({
      kind: 'aborted',
      cause: 'runner-crash',
      reason: `runner was killed by SIGSEGV before it reported a result; ${why}`,
    });
  });
});

describe('recipe sets (parallelWith)', () => {
  it('stop and skip the running partners of a job that failed', async () => {
    const view = await lab.run({
      jobs: [
        osTest('server', { HANG_MODULE: 'login' }, { parallelWith: 'client' }),
        osTest('client', { FAIL_MODULE: 'boot', MODULES: 'boot' }),
      ],
    });
    const jobs = byName(view);
    expect(jobs.client!.result?.kind).toBe('failed');
    expect(jobs.server!.result).toEqual({ kind: 'skipped', reason: 'partner `client` failed' });
    expect(jobs.server!.hostId).not.toBe(jobs.client!.hostId);
  });

  it('stop and skip the running partners of a job that aborted, and are retried whole', async () => {
    const view = await lab.run({
      jobs: [
        osTest('server', { HANG_MODULE: 'login', HANG_ATTEMPT: '1' }, { parallelWith: 'client', maxRetries: 1 }),
        osTest('client', { CRASH_MODULE: 'boot', MODULES: 'boot' }),
      ],
    });
    const [first, second] = view.recipeSets;
    const inSet = (n: number) =>
      Object.fromEntries(view.jobs.filter((j) => j.setNumber === n).map((j) => [j.name, j])) as Record<string, JobView>;
    const a1 = inSet(first!.number);
    expect(a1.client!.result).toMatchObject({ kind: 'aborted', cause: 'runner-crash' });
    expect(a1.server!.result).toEqual({ kind: 'skipped', reason: 'partner `client` aborted' });
    // The clone holds both partners, away from the host the abort happened on.
    expect(second).toMatchObject({ attempt: 2, clonedFrom: first!.number, excludedHosts: [a1.client!.hostId] });
    const a2 = inSet(second!.number);
    expect(Object.keys(a2).sort()).toEqual(['client', 'server']);
    expect(a2.server!.clonedFrom).toBe(a1.server!.id);
    expect(a2.client!.clonedFrom).toBe(a1.client!.id);
    expect([a2.server!.hostId, a2.client!.hostId]).not.toContain(a1.client!.hostId);
    expect(a2.client!.result).toMatchObject({ kind: 'aborted', cause: 'runner-crash' });
  });

  it('get all their hosts at once or wait, holding none (all-or-nothing), and say why', async () => {
    const busy1 = await lab.submit({ jobs: [hang('busy-1', 's1')] });
    const busy2 = await lab.submit({ jobs: [hang('busy-2', 's2')] });
    await Promise.all([jobRunning(busy1.jobs[0]!.id), jobRunning(busy2.jobs[0]!.id)]);
    const pair = await lab.submit({ jobs: [osTest('left', {}, { parallelWith: 'right' }), osTest('right')] });
    const reason = await waitingReason(pair.id, 'left', /in queue/);
    expect(reason).toBe('needs 2 hosts at once (class local): 1 idle, 2 of 3 leased; 1st in queue');
    expect((await lab.host('s3'))!.state).toBe('idle');
    await lab.submitter.cancelSubmission(busy1.id);
    const view = await lab.waitForSubmission(pair.id);
    expect(view.result).toBe('passed');
    expect(new Set(view.jobs.map((j) => j.hostId))).toEqual(new Set(['s1', 's3']));
    await lab.submitter.cancelSubmission(busy2.id);
    await lab.waitForSubmission(busy2.id);
  });
});

describe('the queue', () => {
  it('serves priority first, and explains who waits for what', async () => {
    const busy = await lab.submit({ jobs: [hang('holder', 's3')] });
    await jobRunning(busy.jobs[0]!.id);
    const low = await lab.submit({ jobs: [osTest('low', { MODULES: 'boot' }, { ...on('s3'), priority: 80 })] });
    await waitingReason(low.id, 'low', /1st in queue/);
    // Ahead of the default: an operator's call.
    const high = await lab.api.submit({ jobs: [osTest('high', { MODULES: 'boot' }, { ...on('s3'), priority: 10 })] });
    expect(await waitingReason(high.id, 'high', /1st in queue/)).toMatch(
      /^host s3 \(the only host of class local with slot == s3\) is leased to /,
    );
    expect(await waitingReason(low.id, 'low', /2nd in queue/)).toMatch(/^host s3/);
    const after = await lab.submit({
      jobs: [osTest('after', {}, { startAfter: ['first'] }), osTest('first', { HANG_MODULE: 'boot' }, on('s1'))],
    });
    expect(await waitingReason(after.id, 'after', /parent/)).toBe('waiting for parent `first`');
    await lab.submitter.cancelSubmission(busy.id);
    const [h, l] = await Promise.all([lab.waitForSubmission(high.id), lab.waitForSubmission(low.id)]);
    expect(h.jobs[0]!.startedAt! < l.jobs[0]!.startedAt!).toBe(true);
    await lab.submitter.cancelSubmission(after.id);
    const cancelled = await lab.waitForSubmission(after.id);
    expect(byName(cancelled).after!.result?.kind).toMatch(/cancelled|skipped/);
  });

  it('fails at once, with the reason, a job no host of the lab could ever take', async () => {
    const started = Date.now();
    const view = await lab.run({
      jobs: [
        osTest('nowhere', {}, { workerClass: 'ipmi-bm' }),
        osTest('arm', {}, { hostRequires: ['arch == riscv64'] }),
      ],
    });
    expect(Date.now() - started).toBeLessThan(15_000);
    const jobs = byName(view);
    expect(jobs.nowhere!.result).toEqual({
      kind: 'aborted',
      cause: 'no-host-left',
      reason: 'no host of class ipmi-bm in the lab',
    });
    expect(jobs.arm!.result).toMatchObject({
      kind: 'aborted',
      cause: 'no-host-left',
      reason: expect.stringMatching(/^no host of class local satisfies arch == riscv64/),
    });
  });

  it('cancels a job that waited longer than its queueTimeoutMs', async () => {
    const busy = await lab.submit({ jobs: [hang('blocker', 's2')] });
    await jobRunning(busy.jobs[0]!.id);
    const view = await lab.run({ jobs: [osTest('impatient', {}, { ...on('s2'), queueTimeoutMs: 2_000 })] });
    expect(view.jobs[0]!.result).toEqual({
      kind: 'cancelled',
      reason: 'waited in the queue longer than queueTimeoutMs (2 s)',
    });
    await lab.submitter.cancelSubmission(busy.id);
    await lab.waitForSubmission(busy.id);
    expect((await lab.host('s2'))!.state).toBe('idle');
  });
});

describe('after-edges (startAfter)', () => {
  it('start a job only after all its parents passed, skip it when one failed or was cancelled, and restart it with its parent', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [
        osTest('ok-1', { MODULES: 'boot' }),
        osTest('ok-2', { MODULES: 'boot,install' }),
        osTest('after-ok', { MODULES: 'boot' }, { startAfter: ['ok-1', 'ok-2'] }),
        osTest('bad', { FAIL_MODULE: 'boot', MODULES: 'boot' }),
        osTest('after-bad', { MODULES: 'boot' }, { startAfter: ['bad'] }),
        osTest('stuck', { HANG_MODULE: 'boot' }),
        osTest('after-stuck', { MODULES: 'boot' }, { startAfter: ['stuck'] }),
      ],
    });
    const stuck = jobs.find((j) => j.name === 'stuck')!;
    await jobRunning(stuck.id);
    await lab.submitter.cancelJob(stuck.id);
    const view = await lab.waitForSubmission(id);
    const byJob = byName(view);
    expect(byJob['after-ok']!.result).toEqual({ kind: 'passed' });
    for (const parent of ['ok-1', 'ok-2']) expect(byJob['after-ok']!.startedAt! >= byJob[parent]!.endedAt!).toBe(true);
    expect(byJob['after-bad']!.result).toEqual({ kind: 'skipped', reason: 'parent `bad` failed' });
    expect(byJob['after-stuck']!.result).toEqual({ kind: 'skipped', reason: 'parent `stuck` cancelled' });
    expect(byJob['after-bad']!.hostId).toBeUndefined();

    // Restarting a parent re-runs its startAfter children too, after it, linked to the old attempts.
    const again = await lab.submitter.restartJob(byJob['ok-1']!.id);
    expect(again.jobs.map((j) => j.name)).toEqual(['ok-1', 'after-ok']);
    const rerun = byName(await lab.waitForSubmission(again.id));
    expect([rerun['ok-1']!.result?.kind, rerun['after-ok']!.result?.kind]).toEqual(['passed', 'passed']);
    expect(rerun['after-ok']!.clonedFrom).toBe(byJob['after-ok']!.id);
    expect(rerun['after-ok']!.startedAt! >= rerun['ok-1']!.endedAt!).toBe(true);
  });
});

describe('phase deadlines', () => {
  it('aborts a job whose provisioning takes longer than provisionTimeoutMs (an asset server that never answers)', async () => {
    const stalled = new Set<http.ServerResponse>();
    const server = http.createServer((_req, res) => void stalled.add(res)); // accepts, never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/never.img`;
      const view = await lab.run({
        jobs: [osTest('slow-setup', {}, { provisionTimeoutMs: 2_000, assets: [{ url, sha256: 'a'.repeat(64) }] })],
      });
      expect(view.jobs[0]!.result).toEqual({
        kind: 'aborted',
        cause: 'setup-timeout',
        reason: 'provisioning `slow-setup` took longer than 2 s',
      });
      expect(stalled.size).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('leases', () => {
  /** A lease granted straight from the client, on behalf of a running workflow that ignores it. */
  async function leaseFor(requestId: string, requester: string, slot: string) {
    await lab.temporal.workflow.getHandle(SCHEDULER_WORKFLOW_ID).signal(requestLeaseSignal, {
      requestId,
      requester,
      label: requestId,
      priority: 50,
      recipes: [
        {
          workerClass: 'local',
          hostRequires: [{ key: 'slot', op: '==', value: slot }],
          excludedHosts: [],
          previousHosts: [],
        },
      ],
    });
    return waitFor(`${slot} to be leased to ${requestId}`, async () => {
      const h = await hostState(slot);
      return h?.lease?.requestId === requestId ? h : undefined;
    });
  }

  it('a request withdrawn after it was granted gives its hosts back (a grant that crossed a queue timeout)', async () => {
    const holder = await lab.submit({ jobs: [hang('anchor', 's1')] });
    await jobRunning(holder.jobs[0]!.id);
    await leaseFor('crossed', `sub-${holder.id}`, 's3');
    await lab.temporal.workflow
      .getHandle(SCHEDULER_WORKFLOW_ID)
      .signal(cancelLeaseRequestSignal, { requestId: 'crossed' });
    await waitFor('s3 to be idle again', async () => (await hostState('s3'))?.state === 'idle', 10_000);
  });

  it('a lease whose holder has ended without releasing it comes back', async () => {
    const holder = await lab.submit({ jobs: [hang('short-lived', 's1')] });
    await jobRunning(holder.jobs[0]!.id);
    await leaseFor('orphan', `sub-${holder.id}`, 's3');
    const scheduler = lab.temporal.workflow.getHandle(SCHEDULER_WORKFLOW_ID);
    await scheduler.signal(configureSignal, { leaseCheckMs: 500 });
    try {
      await lab.submitter.cancelSubmission(holder.id);
      await lab.waitForSubmission(holder.id);
      // The holder is gone; the scheduler notices at its next check.
      await waitFor('s3 to be taken back', async () => (await hostState('s3'))?.state === 'idle', 10_000);
    } finally {
      await scheduler.signal(configureSignal, { leaseCheckMs: DEFAULT_SCHEDULER_CONFIG.leaseCheckMs });
    }
  });

  it('the lease of a chain terminated in Temporal Web comes back when its recipe set sees it end', async () => {
    const { id, jobs } = await lab.submit({ jobs: [hang('terminated', 's2')] });
    await jobRunning(jobs[0]!.id);
    await lab.temporal.workflow.getHandle(`chain-${id}-1-s2`).terminate('operator terminated it');
    const view = await lab.waitForSubmission(id);
    expect(view.jobs[0]!.result).toMatchObject({
      kind: 'aborted',
      cause: 'internal',
      reason: expect.stringMatching(/^chain workflow on s2 failed/),
    });
    await waitFor('s2 to be idle again', async () => (await hostState('s2'))?.state === 'idle', 10_000);
  });
});

describe('restart', () => {
  it('goes on counting attempts from the job it re-runs, and prefers hosts that job has not run on', async () => {
    const parsed = validateSpec({
      name: 'restart of probe',
      jobs: [
        {
          name: 'probe',
          workerClass: 'local',
          runner: {
            command: ['sh', '-c', 'echo "$TESTBAY_ATTEMPT $TESTBAY_HOST" > "$TESTBAY_RESULTS_DIR/attempt.txt"'],
          },
        },
      ],
    });
    if (!parsed.ok) throw new Error('bad spec');
    const submissionId = `rst${Date.now().toString(36)}`;
    // What the API starts for a restart of a job whose second attempt ran on s2, after s1.
    const input: SubmissionWorkflowInput = {
      submissionId,
      plan: buildPlan(parsed.submission),
      config: lab.config.run,
      createdAt: new Date().toISOString(),
      register: { submission: parsed.submission },
      lineage: { probe: 'oldsubmission.2' },
      restarted: { probe: { attempt: 2, hosts: ['s1', 's2'] } },
    };
    await lab.temporal.workflow.start('submissionWorkflow', {
      workflowId: `sub-${submissionId}`,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [input],
    });
    const view = await lab.waitForSubmission(submissionId);
    expect(view.jobs[0]).toMatchObject({
      name: 'probe',
      attempt: 3,
      hostId: 's3',
      clonedFrom: 'oldsubmission.2',
      result: { kind: 'passed' },
    });
    expect((await lab.api.artifact(view.jobs[0]!.id, 'attempt.txt')).toString()).toBe('3 s3\n');
  });
});
