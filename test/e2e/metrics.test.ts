/**
 * Prometheus metrics against a real lab: host states and the queue from the scheduler,
 * job outcomes by result and abort cause, and the failover time of a re-scheduled clone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'metrics', hosts: [{ id: 'm1' }, { id: 'm2' }] });
});
afterAll(async () => {
  await lab?.stop();
});

async function scrape(token = lab.tokens.submit): Promise<{ status: number; text: string; value(series: string): number | undefined }> {
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
    await waitFor('maintenance to show', async () => (await scrape()).value('testbay_hosts{state="maintenance"}') === 1 || undefined);
    await lab.api.setMaintenance('m1', false);
  });

  it('counts outcomes by result and abort cause, and measures failover to the clone', async () => {
    const { id } = await lab.submit({
      name: 'outcomes',
      jobs: [
        // Hangs on its first attempt only: aborted by its timeout, then passes on the other host.
        osTest('flaky', { HANG_MODULE: 'boot', HANG_ATTEMPT: '1' }, { maxRetries: 1, timeoutMs: 2500 }),
        osTest('bug', { FAIL_MODULE: 'login' }),
        osTest('after-bug', {}, { startAfter: ['bug'] }),
      ],
    });
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
    expect(m.value('testbay_jobs_finished_total{result="aborted",cause="run-timeout"}')).toBe(1);
    expect(m.value('testbay_jobs_finished_total{result="passed",cause="none"}')).toBe(1);
    expect(m.value('testbay_jobs_finished_total{result="failed",cause="none"}')).toBe(1);
    expect(m.value('testbay_jobs_finished_total{result="skipped",cause="none"}')).toBe(1);
    expect(m.value('testbay_failover_seconds_count')).toBe(1);
    expect(m.value('testbay_failover_seconds_bucket{le="+Inf"}')).toBe(1);
    expect(m.value('testbay_failover_seconds_sum')).toBeGreaterThanOrEqual(0);
    expect(m.value('testbay_submissions_running')).toBe(0);
  }, 120_000);
});
