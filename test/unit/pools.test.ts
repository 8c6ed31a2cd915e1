/**
 * Pools of hosts: one scheduler workflow each. The spec names a job's pool (or inherits it
 * from defaults), a recipe set stays within one, the scheduler's id follows from the pool,
 * and the API merges every pool's view of the lab.
 */
import { describe, expect, it } from 'vitest';
import { healthCheckSubmission } from '../../src/domain/health-check.js';
import { poolOfSchedulerId, SCHEDULER_WORKFLOW_ID, schedulerWorkflowId } from '../../src/domain/ids.js';
import { hostViews, queueView, shouldContinueAsNew } from '../../src/domain/lab-view.js';
import { enqueue, newLab, registerHost } from '../../src/domain/lab.js';
import { mergeLabViews } from '../../src/api/temporal-gateway.js';
import type { Job } from '../../src/domain/spec.js';
import { job, plan, rejected, spec } from '../helpers/spec.js';

describe('pools', () => {
  it('keeps the default pool on the scheduler id labs had before pools, and names the others after their pool', () => {
    expect(schedulerWorkflowId()).toBe('testbay-scheduler');
    expect(schedulerWorkflowId('default')).toBe(SCHEDULER_WORKFLOW_ID);
    expect(schedulerWorkflowId('gpu')).toBe('testbay-scheduler-gpu');
    expect(poolOfSchedulerId('testbay-scheduler')).toBe('default');
    expect(poolOfSchedulerId('testbay-scheduler-gpu')).toBe('gpu');
    expect(poolOfSchedulerId('testbay-scheduler-default')).toBeUndefined();
    expect(poolOfSchedulerId('sub-abc123')).toBeUndefined();
  });

  it('takes a pool from the job, else from defaults, and leaves the default pool out of the plan', () => {
    const p = plan({
      defaults: { pool: 'gpu' },
      jobs: [job('a'), job('b', { pool: 'arm' }), job('c', { pool: 'default' })],
    });
    expect(p.jobs.map((j) => j.pool)).toEqual(['gpu', 'arm', undefined]);
    expect(p.recipeSets.map((s) => s.pool)).toEqual(['gpu', 'arm', undefined]);
    expect(plan(spec(job('a'))).recipeSets[0]).not.toHaveProperty('pool');
  });

  it('gives a batch run its pool', () => {
    const p = plan({
      defaults: { pool: 'gpu' },
      batchRuns: [{ name: 'suite', tests: ['t1'], workerClass: 'local', runner: { command: ['x'] } }],
    });
    expect(p.batchRuns[0]!.pool).toBe('gpu');
  });

  it('rejects a recipe set whose jobs are in different pools, naming the field', () => {
    expect(rejected(spec(job('server', { parallelWith: 'client', pool: 'gpu' }), job('client')))).toEqual([
      expect.stringMatching(
        /^jobs\.1\.pool: `client` is in pool default but runs in one recipe set with `server` \(pool gpu\)/,
      ),
    ]);
    expect(rejected(spec(job('a', { pool: 'gpu' }), job('b', { startDirectlyAfter: 'a' })))[0]).toMatch(
      /^jobs\.1\.pool: /,
    );
    // startAfter links recipe sets, which may be in different pools.
    expect(plan(spec(job('a', { pool: 'gpu' }), job('b', { startAfter: 'a' }))).recipeSets.map((s) => s.pool)).toEqual([
      'gpu',
      undefined,
    ]);
  });

  it('rejects a pool name that is not an id', () => {
    expect(rejected(spec(job('a', { pool: 'no spaces' })))[0]).toMatch(
      /^jobs\.0\.pool: must start with a letter or digit/,
    );
    expect(rejected({ defaults: { pool: '-x' }, jobs: [job('a')] })[0]).toMatch(/^defaults\.pool: /);
  });

  it("starts a host's health check in the scheduler's pool", () => {
    const check: Job = {
      name: 'x',
      runner: { command: ['check'] },
      settings: {},
      hostRequires: [],
      timeoutMs: 1,
      provisionTimeoutMs: 1,
      priority: 1,
      maxRetries: 0,
      assets: [],
      startAfter: [],
      parallelWith: [],
      workerClass: 'local',
    };
    expect(healthCheckSubmission({ local: check }, { id: 'h1', workerClasses: ['local'] }, 'gpu')?.jobs[0]?.pool).toBe(
      'gpu',
    );
    expect(
      healthCheckSubmission({ local: { ...check, pool: 'gpu' } }, { id: 'h1', workerClasses: ['local'] }, 'default')
        ?.jobs[0],
    ).not.toHaveProperty('pool');
    expect(healthCheckSubmission({ local: check }, { id: 'h1', workerClasses: ['other'] }, 'default')).toBeUndefined();
  });

  it("merges every pool's view: hosts and queue marked with their pool, the default pool's run first", () => {
    const lab = (pool: string, hostId: string, workerClass: string) => {
      const state = newLab('salt');
      registerHost(
        state,
        {
          hostId,
          instanceId: 'i1',
          workerClasses: [workerClass],
          capabilities: {},
          hostname: hostId,
          address: '127.0.0.1',
        },
        0,
      );
      expect(
        enqueue(
          state,
          {
            requestId: `r-${pool}`,
            requester: 'w',
            label: 'l',
            priority: 1,
            recipes: [{ workerClass, hostRequires: [], excludedHosts: [], previousHosts: [] }],
          },
          0,
        ),
      ).toEqual({ queued: true });
      return {
        hosts: hostViews(state, pool),
        queue: queueView(state, pool),
        runId: `run-${pool}`,
        pools: [{ pool, runId: `run-${pool}` }],
      };
    };
    const merged = mergeLabViews([lab('default', 'h1', 'local'), lab('gpu', 'g1', 'cuda')]);
    expect(merged.hosts.map((h) => [h.id, h.pool])).toEqual([
      ['h1', 'default'],
      ['g1', 'gpu'],
    ]);
    expect(merged.queue.map((q) => [q.requestId, q.pool])).toEqual([
      ['r-default', 'default'],
      ['r-gpu', 'gpu'],
    ]);
    expect(merged.runId).toBe('run-default');
    expect(merged.pools).toEqual([
      { pool: 'default', runId: 'run-default' },
      { pool: 'gpu', runId: 'run-gpu' },
    ]);
  });

  it('continues as new past the bar, which grows with the hosts', () => {
    const at = (historyLength: number, suggested = false) => ({
      historyLength,
      historySize: 1000,
      continueAsNewSuggested: suggested,
    });
    expect(shouldContinueAsNew(at(3_999), 4_000, 10)).toBe(false);
    expect(shouldContinueAsNew(at(4_000), 4_000, 10)).toBe(true);
    expect(shouldContinueAsNew(at(4_000, true), 4_000, 2_000)).toBe(false);
    expect(shouldContinueAsNew(at(8_000, true), 4_000, 2_000)).toBe(true);
    expect(shouldContinueAsNew(at(16_000), 4_000, 2_000)).toBe(true);
  });
});
