/**
 * Periodic health checks (LAVA runs one every 24 h), on a real lab: with `everyJobs` (or
 * `everyMs`) in TESTBAY_HEALTH_CHECKS, a host due a check runs it before its next job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'periodic-checks',
    hosts: [{ id: 'c1', classes: ['checked'] }],
    env: {
      TESTBAY_HEALTH_CHECKS: JSON.stringify({
        checked: { runner: { command: ['sh', '-c', 'echo healthy'] }, timeoutMs: 20_000, everyJobs: 2 },
      }),
    },
  });
});
afterAll(async () => {
  await lab?.stop();
});

const quick = (name: string) => ({
  name,
  workerClass: 'checked',
  runner: { command: ['sh', '-c', 'echo ok'] },
  timeoutMs: 20_000,
});

describe('periodic health checks', () => {
  it('runs the check on a host due one (everyJobs) before its next job, and the host goes on', async () => {
    for (const name of ['one', 'two']) expect((await lab.run({ jobs: [quick(name)] })).result).toBe('passed');
    const third = await lab.run({ jobs: [quick('three')] });
    expect(third.result).toBe('passed');
    const checks = await waitFor('the periodic check', async () => {
      const { submissions } = await lab.api.submissions({ limit: '20' });
      const found = submissions.filter((s) => s.name === 'health check of c1');
      return found.length > 0 ? found : undefined;
    });
    expect(checks).toHaveLength(1);
    expect(checks[0]!.result).toBe('passed');
    // It ran before the third job took the host.
    expect(Date.parse(checks[0]!.createdAt)).toBeLessThan(Date.parse(third.jobs[0]!.startedAt!));
    // The third job's release reaches the scheduler just after its submission ended.
    await waitFor('c1 idle again', async () => ((await lab.host('c1'))?.state === 'idle' ? true : undefined));
  });
});
