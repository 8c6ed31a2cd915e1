/**
 * Host states on a real lab: broken after N consecutive aborts (a pass resets, a test
 * failure does not count, a job's own crash counts only once the job passed elsewhere)
 * and back by an operator; maintenance; a configured health-check
 * job that runs when a host broke or returns; and a scheduler that continues-as-new often
 * without losing hosts or queued requests.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'health',
    hosts: [
      { id: 'g1', caps: { slot: 'g1' } },
      { id: 'g2', caps: { slot: 'g2' } },
      { id: 'g3', classes: ['local', 'checked'], caps: { slot: 'g3' } },
    ],
    env: {
      TESTBAY_BROKEN_AFTER_ABORTS: '2',
      TESTBAY_SCHEDULER_MAX_HISTORY: '150',
      TESTBAY_HEALTH_CHECKS: JSON.stringify({
        checked: { runner: { command: ['os-test'] }, settings: { MODULES: 'boot', MODULE_MS: '100' } },
      }),
    },
  });
});
afterEach(async () => {
  await lab.cancelRunning();
});
afterAll(async () => {
  await lab?.stop();
});

const on = (slot: string) => ({ hostRequires: [`slot == ${slot}`] });
const crash = (name: string, slot: string) => osTest(name, { CRASH_MODULE: 'boot', MODULES: 'boot' }, on(slot));
const HOSTS = ['g1', 'g2', 'g3'];

/**
 * A job whose runner crashes on `host` and whose clone then passes on `other`: proof the
 * crash was the host's fault, so it counts against it. (`other` is in maintenance until
 * the first attempt aborted, so that attempt runs on `host`.)
 */
async function confirmedCrash(name: string, host: string, other: string): Promise<void> {
  const third = HOSTS.find((h) => h !== host && h !== other)!;
  await lab.api.setMaintenance(other, true);
  const { id } = await lab.submit({
    jobs: [
      osTest(
        name,
        { CRASH_MODULE: 'boot', CRASH_ATTEMPT: '1', MODULES: 'boot' },
        { hostRequires: [`slot != ${third}`], maxRetries: 1 },
      ),
    ],
  });
  await waitFor(`${name} to abort on ${host}`, async () =>
    (await lab.api.submission(id)).jobs.some((j) => j.hostId === host && j.result?.kind === 'aborted'),
  );
  await lab.api.setMaintenance(other, false);
  const view = await lab.waitForSubmission(id);
  expect(view.jobs.map((j) => [j.hostId, j.result?.kind])).toEqual([
    [host, 'aborted'],
    [other, 'passed'],
  ]);
}

describe('host health', () => {
  it("a job's own crashes do not break a host, unless the job then passes elsewhere", async () => {
    // However often a runner crashes by itself, that is the job's doing until shown otherwise.
    await lab.run({ jobs: [crash('own-1', 'g1')] });
    await lab.run({ jobs: [crash('own-2', 'g1')] });
    await lab.run({ jobs: [crash('own-3', 'g1')] });
    // The chain's release reaches the scheduler just after the submission ended.
    const g1 = await waitFor('g1 idle after its own crashes', async () => {
      const host = await lab.host('g1');
      return host?.state === 'idle' ? host : undefined;
    });
    expect(g1.consecutiveAborts).toBe(0);
    expect(g1.suspects?.length).toBe(3);
  });

  it('a host is broken after N consecutive aborts, not leased, and back when an operator clears it', async () => {
    await confirmedCrash('c1', 'g1', 'g2');
    await lab.run({ jobs: [osTest('ok', { MODULES: 'boot' }, on('g1'))] }); // a pass resets the count
    await confirmedCrash('c2', 'g1', 'g2');
    await lab.run({ jobs: [osTest('test-failure', { FAIL_MODULE: 'boot', MODULES: 'boot' }, on('g1'))] }); // does not count
    // The chain's release reaches the scheduler just after the submission ended.
    await waitFor('g1 idle after the test failure', async () =>
      (await lab.host('g1'))!.state === 'idle' ? true : undefined,
    );
    await confirmedCrash('c3', 'g1', 'g2');
    const broken = await waitFor('g1 broken', async () => {
      const g1 = await lab.host('g1');
      return g1?.state === 'broken' ? g1 : undefined;
    });
    expect(broken.state).toBe('broken');
    expect(broken.broken!.reason).toMatch(
      /^2 consecutive aborts; last: runner was killed by SIGSEGV before it reported a result \(job \w+\.1, which then passed on g2\)$/,
    );
    expect(broken.recentAborts.map((a) => a.cause).slice(0, 3)).toEqual([
      'runner-crash',
      'runner-crash',
      'runner-crash',
    ]);

    const { id } = await lab.submit({ jobs: [osTest('waits', { MODULES: 'boot' }, on('g1'))] });
    const reason = await waitFor(
      'the waiting reason',
      async () => (await lab.api.submission(id)).jobs[0]!.waitingReason?.match(/broken/) ?? undefined,
    );
    expect(reason.input).toBe(
      `host g1 (the only host of class local with slot == g1) is broken (${broken.broken!.reason}); 1st in queue`,
    );
    await lab.api.clearBroken('g1');
    expect((await lab.waitForSubmission(id)).result).toBe('passed');
  });

  it('a host in maintenance takes no jobs until it is back', async () => {
    const host = await lab.api.setMaintenance('g2', true);
    expect(host.state).toBe('maintenance');
    const { id } = await lab.submit({ jobs: [osTest('patient', { MODULES: 'boot' }, on('g2'))] });
    await waitFor(
      'the maintenance reason',
      async () =>
        (await lab.api.submission(id)).jobs[0]!.waitingReason ===
        'host g2 (the only host of class local with slot == g2) is in maintenance; 1st in queue',
    );
    await lab.api.setMaintenance('g2', false);
    expect((await lab.waitForSubmission(id)).jobs[0]!.hostId).toBe('g2');
  });

  it('a broken host with a health check for its class runs it, and is back once it passes', async () => {
    await confirmedCrash('k1', 'g3', 'g2');
    await confirmedCrash('k2', 'g3', 'g2');
    const checkId = await waitFor(
      'a health check to start',
      async () =>
        (await lab.host('g3'))?.check?.submissionId ??
        (await lab.host('g3'))?.broken?.reason.match(/health check (hc\w+)/)?.[1],
    );
    const check = await lab.waitForSubmission(checkId);
    expect(check).toMatchObject({ name: 'health check of g3', result: 'passed' });
    expect(check.jobs[0]).toMatchObject({ name: 'health-check', hostId: 'g3' });
    await waitFor('g3 to be idle again', async () => (await lab.host('g3'))?.state === 'idle');

    // Coming back from maintenance runs the check again.
    await lab.api.setMaintenance('g3', true);
    await lab.api.setMaintenance('g3', false);
    const second = await waitFor(
      'another health check',
      async () => (await lab.host('g3'))?.broken?.reason.match(/health check (hc\w+)/)?.[1],
    );
    expect(second).not.toBe(checkId);
    expect((await lab.waitForSubmission(second)).result).toBe('passed');
    await waitFor('g3 to be idle again', async () => (await lab.host('g3'))?.state === 'idle');
  });

  it('the scheduler continues-as-new without losing hosts, leases or queued requests', async () => {
    const before = (await lab.api.hosts()).runId;
    const holder = await lab.submit({ jobs: [osTest('holder', { HANG_MODULE: 'boot' }, on('g2'))] });
    await waitFor('holder to run', async () => (await lab.api.job(holder.jobs[0]!.id)).state === 'running');
    const queued = await lab.submit({ jobs: [osTest('queued', { MODULES: 'boot' }, on('g2'))] });
    // Enough traffic for several continue-as-new rounds (history limit 150 events).
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          lab.run({
            jobs: [
              osTest(`burst-${round}-${i}`, { MODULES: 'boot', MODULE_MS: '20', LOG_LINES: '1', SCREENSHOTS: '0' }),
            ],
          }),
        ),
      );
    }
    const lab2 = await lab.api.hosts();
    expect(lab2.runId).not.toBe(before);
    expect(lab2.hosts.map((h) => h.id)).toEqual(['g1', 'g2', 'g3']);
    expect(lab2.hosts.find((h) => h.id === 'g2')!.state).toBe('leased');
    expect(lab2.queue.map((q) => q.requester)).toEqual([`rs-${queued.id}-1`]);
    // However often it continued as new, the scheduler watches each host with exactly one
    // presence activity, and no live host went offline on the way.
    await waitFor(
      'one presence activity per host in the current run',
      async () => {
        const scheduler = await lab.temporal.workflow.getHandle('testbay-scheduler').describe();
        const presences = (scheduler.raw.pendingActivities ?? []).filter(
          (a) => a.activityType?.name === 'holdPresence',
        );
        return presences.length === 3;
      },
      20_000,
      200,
    );
    expect((await lab.api.hosts()).hosts.filter((h) => h.state === 'offline').map((h) => h.id)).toEqual([]);
    await lab.api.cancelSubmission(holder.id);
    expect((await lab.waitForSubmission(queued.id)).result).toBe('passed');
  });
});
