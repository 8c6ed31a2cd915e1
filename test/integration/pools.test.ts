/**
 * Pools on a real lab: hosts in two pools (the same worker class in both), one scheduler
 * workflow each. A job for a pool runs only on that pool's hosts, host operations reach
 * the host's pool's scheduler, `testbay hosts --json` lists every pool, and a job for a
 * pool without hosts is refused at once, as a job no host can take always was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULER_WORKFLOW_ID, schedulerWorkflowId } from '../../src/domain/ids.js';
import type { LabWithJobs } from '../../src/api/host-jobs.js';
import { labQuery } from '../../src/workflows/scheduler-messages.js';
import { cli } from '../helpers/cli.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'pools', hosts: [{ id: 'd1' }, { id: 'g1', pool: 'gpu' }] });
});
afterAll(async () => {
  await lab?.stop();
});

const quick = (name: string, extra: Record<string, unknown> = {}) =>
  osTest(name, { MODULES: 'boot', MODULE_MS: '50' }, extra);

describe('pools', () => {
  it('holds each pool in its own scheduler workflow, the default pool in testbay-scheduler', async () => {
    const byDefault = await lab.temporal.workflow.getHandle(SCHEDULER_WORKFLOW_ID).query(labQuery);
    const gpu = await lab.temporal.workflow.getHandle(schedulerWorkflowId('gpu')).query(labQuery);
    expect(byDefault.hosts.map((h) => [h.id, h.pool])).toEqual([['d1', 'default']]);
    expect(gpu.hosts.map((h) => [h.id, h.pool])).toEqual([['g1', 'gpu']]);
  });

  it('runs a job for pool gpu only on the gpu host, and a job without a pool only on the default one', async () => {
    const sub = await lab.submit({
      name: 'pools',
      jobs: [
        quick('on-gpu-1', { pool: 'gpu' }),
        quick('on-gpu-2', { pool: 'gpu' }),
        quick('anywhere-1'),
        quick('anywhere-2'),
      ],
    });
    const view = await lab.waitForSubmission(sub.id);
    const hostOf = Object.fromEntries(view.jobs.map((j) => [j.name, [j.result?.kind, j.hostId]]));
    expect(hostOf).toEqual({
      'on-gpu-1': ['passed', 'g1'],
      'on-gpu-2': ['passed', 'g1'],
      'anywhere-1': ['passed', 'd1'],
      'anywhere-2': ['passed', 'd1'],
    });
  });

  it('gives a batch run and a defaults pool to the pool named', async () => {
    const sub = await lab.submit({
      defaults: { pool: 'gpu' },
      batchRuns: [
        {
          name: 'suite',
          tests: ['t1', 't2', 't3'],
          batchSize: 2,
          workerClass: 'local',
          runner: { command: ['batch-test'] },
          settings: { TEST_MS: '20' },
        },
      ],
    });
    const view = await lab.waitForSubmission(sub.id, 90_000);
    expect(view.batchRuns?.[0]).toMatchObject({ result: 'passed', hosts: ['g1'] });
  });

  it('lists every pool in `testbay hosts --json` and in the table', async () => {
    const env = { TESTBAY_URL: lab.api.baseUrl, TESTBAY_TOKEN: lab.tokens.operate, TESTBAY_DATA_DIR: lab.dir };
    const json = await cli(['hosts', '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    const listed = JSON.parse(json.stdout) as LabWithJobs;
    expect(listed.hosts.map((h) => [h.id, h.pool, h.state])).toEqual([
      ['d1', 'default', 'idle'],
      ['g1', 'gpu', 'idle'],
    ]);
    expect(listed.pools.map((p) => p.pool)).toEqual(['default', 'gpu']);
    const table = await cli(['hosts'], env);
    expect(table.stdout).toMatch(/^HOST\s+POOL\s+STATE/m);
    expect(table.stdout).toMatch(/^g1\s+gpu\s+idle/m);
  });

  it("routes maintenance to the host's pool's scheduler", async () => {
    expect((await lab.api.setMaintenance('g1', true)).state).toBe('maintenance');
    expect((await lab.temporal.workflow.getHandle(schedulerWorkflowId('gpu')).query(labQuery)).hosts[0]!.state).toBe(
      'maintenance',
    );
    expect((await lab.host('g1'))?.state).toBe('maintenance');
    // The gpu job waits for its pool's only host; the default pool's host does not take it.
    const sub = await lab.submit({ jobs: [quick('waits', { pool: 'gpu' })] });
    await waitFor('the request to wait in the gpu queue', async () =>
      (await lab.api.hosts()).queue.find((q) => q.pool === 'gpu' && q.label.startsWith(sub.id)),
    );
    expect((await lab.api.setMaintenance('g1', false)).state).not.toBe('maintenance');
    const view = await lab.waitForSubmission(sub.id);
    expect(view.jobs[0]).toMatchObject({ result: { kind: 'passed' }, hostId: 'g1' });
  });

  it('refuses a job for a pool without hosts at once, as a job no host can take', async () => {
    const sub = await lab.submit({ jobs: [quick('nowhere', { pool: 'arm' })] });
    const view = await lab.waitForSubmission(sub.id);
    expect(view.jobs[0]?.result).toMatchObject({
      kind: 'aborted',
      reason: 'no host of class local in the lab (pool arm)',
    });
  });

  it('answers a recipe set across pools with 400 naming the field', async () => {
    const res = await fetch(`${lab.api.baseUrl}/api/v1/submissions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${lab.tokens.submit}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jobs: [quick('server', { parallelWith: 'client', pool: 'gpu' }), quick('client')] }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { issues: { path: (string | number)[]; message: string }[] };
    expect(body.issues).toEqual([{ path: ['jobs', 1, 'pool'], message: expect.stringContaining('must share a pool') }]);
  });
});
