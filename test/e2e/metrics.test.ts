/**
 * Prometheus metrics against a real lab: host states (idle, leased, maintenance, broken)
 * and the queue from the scheduler, job outcomes by result and abort cause, and failover
 * durations: from the loss of the host to the clone's start, observed as the clone starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { osTest, TEST_ENV, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'metrics', hosts: [{ id: 'm1' }, { id: 'm2' }] });
});
afterAll(async () => {
  await lab?.stop();
});

async function scrape(
  token = lab.tokens.submit,
): Promise<{ status: number; text: string; value(series: string): number | undefined }> {
  const res = await fetch(`${lab.api.baseUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return {
    status: res.status,
    text,
    value: (series) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    },
  };
}

describe('GET /metrics', () => {
  it('needs a token and shows the lab from the scheduler', async () => {
    expect((await fetch(`${lab.api.baseUrl}/metrics`)).status).toBe(401);
    const m = await scrape();
    expect(m.status).toBe(200);
    expect(m.text).toContain('# TYPE testbay_hosts gauge');
    expect(m.value('testbay_scheduler_up')).toBe(1);
    expect(m.value('testbay_hosts{state="idle"}')).toBe(2);
    expect(m.value('testbay_hosts{state="broken"}')).toBe(0);
    expect(m.value('testbay_host_state{host="m1",state="idle"}')).toBe(1);
    expect(m.value('testbay_queue_length')).toBe(0);

    await lab.api.setMaintenance('m1', true);
    await waitFor(
      'maintenance to show',
      async () => (await scrape()).value('testbay_hosts{state="maintenance"}') === 1 || undefined,
    );
    await lab.api.markBroken('m2', 'fan died');
    const out = await waitFor('a broken host to show', async () => {
      const s = await scrape();
      return s.value('testbay_hosts{state="broken"}') === 1 ? s : undefined;
    });
    expect(out.value('testbay_host_state{host="m2",state="broken"}')).toBe(1);
    expect(out.value('testbay_hosts{state="idle"}')).toBe(0);

    // Nothing can take work: a submission waits in the queue, and the queue says how long.
    const { id } = await lab.submit({
      name: 'queued',
      jobs: [osTest('patient', { MODULE_MS: '1500', MODULES: 'boot,install' })],
    });
    const queued = await waitFor('the request to queue', async () => {
      const s = await scrape();
      return s.value('testbay_queue_length') === 1 && (s.value('testbay_queue_oldest_wait_seconds') ?? 0) > 0.3
        ? s
        : undefined;
    });
    expect(queued.value('testbay_queue_oldest_wait_seconds')).toBeLessThan(30);
    expect(queued.value('testbay_submissions_running')).toBe(1);
    await lab.api.clearBroken('m2');
    await lab.api.setMaintenance('m1', false);
    const leased = await waitFor('a host to be leased', async () => {
      const s = await scrape();
      return s.value('testbay_hosts{state="leased"}') === 1 ? s : undefined;
    });
    expect(leased.value('testbay_queue_length')).toBe(0);
    expect(leased.value('testbay_hosts{state="idle"}')).toBe(1);
    expect(leased.value('testbay_hosts{state="broken"}')).toBe(0);
    await lab.waitForSubmission(id);
  });

  it('counts outcomes by result and abort cause, and measures failover to the clone', async () => {
    const base = await scrape();
    const added = (m: Awaited<ReturnType<typeof scrape>>, series: string) =>
      (m.value(series) ?? 0) - (base.value(series) ?? 0);
    const { id } = await lab.submit({
      name: 'outcomes',
      jobs: [
        // Hangs on its first attempt only: aborted by its timeout, then passes on the other host (slowly enough to be seen running).
        osTest(
          'flaky',
          { HANG_MODULE: 'boot', HANG_ATTEMPT: '1', MODULES: 'boot,install', MODULE_MS: '1000' },
          { maxRetries: 1, timeoutMs: 4000 },
        ),
        osTest('bug', { FAIL_MODULE: 'login' }),
        osTest('after-bug', {}, { startAfter: ['bug'] }),
      ],
    });
    // The failover is counted as soon as the clone runs, not when the submission ends.
    const clone = await waitFor(
      'the clone to run',
      async () => (await lab.api.submission(id)).jobs.find((j) => j.attempt === 2 && j.state === 'running'),
      60_000,
      100,
    );
    const early = await waitFor(
      'the failover to be counted',
      async () => {
        const s = await scrape();
        return s.value('testbay_failover_seconds_count') === 1 ? s : undefined;
      },
      5_000,
      50,
    );
    expect((await lab.api.job(clone.id)).result, 'the clone had not finished yet').toBeUndefined();
    expect(early.value('testbay_submissions_running')).toBe(1);
    // From the timed-out attempt's end (a timeout is its own loss) to the clone's start.
    const [first, again] = await Promise.all([lab.api.job(clone.clonedFrom!), lab.api.job(clone.id)]);
    const expected = (Date.parse(again.startedAt!) - Date.parse(first.endedAt!)) / 1000;
    expect(expected).toBeGreaterThan(0);
    expect(early.value('testbay_failover_seconds_sum')).toBeCloseTo(expected, 2);
    const view = await lab.waitForSubmission(id, 90_000);
    expect(view.jobs.map((j) => [j.name, j.result?.kind])).toEqual([
      ['flaky', 'aborted'],
      ['bug', 'failed'],
      ['after-bug', 'skipped'],
      ['flaky', 'passed'],
    ]);
    const m = await waitFor('the submission to be counted', async () => {
      const s = await scrape();
      return s.value('testbay_submissions_finished_total{result="failed"}') === 1 ? s : undefined;
    });
    expect(added(m, 'testbay_jobs_finished_total{result="aborted",cause="run-timeout"}')).toBe(1);
    expect(added(m, 'testbay_jobs_finished_total{result="passed",cause="none"}')).toBe(1);
    expect(added(m, 'testbay_jobs_finished_total{result="failed",cause="none"}')).toBe(1);
    expect(added(m, 'testbay_jobs_finished_total{result="skipped",cause="none"}')).toBe(1);
    // Still one: the submission's end does not count the clone again.
    expect(m.value('testbay_failover_seconds_count')).toBe(1);
    expect(m.value('testbay_failover_seconds_bucket{le="+Inf"}')).toBe(1);
    expect(m.value('testbay_failover_seconds_sum')).toBeCloseTo(expected, 2);
    expect(m.value('testbay_submissions_running')).toBe(0);
  }, 120_000);

  it('measures a host loss from the host going silent, which includes the time to notice it', async () => {
    const before = (await scrape()).value('testbay_failover_seconds_sum') ?? 0;
    const { id, jobs } = await lab.submit({
      name: 'host-dies',
      jobs: [osTest('survivor', { MODULES: 'boot,install,login,desktop', MODULE_MS: '1000' }, { maxRetries: 1 })],
    });
    const running = await waitFor(
      'the job to run',
      async () => {
        const j = await lab.api.job(jobs[0]!.id);
        return j.state === 'running' && j.logBytes > 0 ? j : undefined;
      },
      30_000,
      100,
    );
    lab.signalHost(running.hostId!, 'SIGKILL');
    const clone = await waitFor(
      'the clone to run',
      async () => (await lab.api.submission(id)).jobs.find((j) => j.attempt === 2 && j.state === 'running'),
      60_000,
      100,
    );
    const m = await waitFor(
      'the failover to be counted',
      async () => {
        const s = await scrape();
        return s.value('testbay_failover_seconds_count') === 2 ? s : undefined;
      },
      5_000,
      50,
    );
    const seconds = (m.value('testbay_failover_seconds_sum') ?? 0) - before;
    const lost = await lab.api.job(clone.clonedFrom!);
    expect(lost.result).toMatchObject({ kind: 'aborted', cause: 'host-lost' });
    // The loss is noticed a heartbeat timeout after the host went silent: a failover
    // measured from the recorded end would leave that out.
    const heartbeatTimeoutS = Number(TEST_ENV.TESTBAY_HEARTBEAT_TIMEOUT_MS) / 1000;
    expect(seconds).toBeGreaterThanOrEqual(heartbeatTimeoutS - 0.5);
    const fromEnd = (Date.parse((await lab.api.job(clone.id)).startedAt!) - Date.parse(lost.endedAt!)) / 1000;
    expect(seconds).toBeGreaterThan(fromEnd + heartbeatTimeoutS / 2);
    expect(seconds).toBeLessThan(60);
    expect((await lab.waitForSubmission(id, 90_000)).result).toBe('passed');
  }, 150_000);
});
