/**
 * Why a leased job waits: the job before it in its chain holds the host.
 */
import { describe, expect, it } from 'vitest';
import { validateSpec } from '../../src/domain/parse-spec.js';
import { buildPlan } from '../../src/domain/plan.js';
import type { JobView } from '../../src/domain/views.js';
import { chainWaitingReason, withChainReasons } from '../../src/api/waiting.js';

const spec = validateSpec({
  jobs: [
    { name: 'install', workerClass: 'local', runner: { command: ['os-test'] } },
    { name: 'desktop', workerClass: 'local', runner: { command: ['os-test'] }, startDirectlyAfter: 'install' },
    { name: 'report', workerClass: 'local', runner: { command: ['os-test'] }, startDirectlyAfter: 'desktop' },
    { name: 'other', workerClass: 'local', runner: { command: ['os-test'] } },
  ],
});
if (!spec.ok) throw new Error(JSON.stringify(spec.issues));
const plan = buildPlan(spec.submission);
const job = (name: string, state: JobView['state'], extra: Partial<JobView> = {}): JobView => ({
  id: `sub.${name}`,
  name,
  setNumber: 1,
  attempt: 1,
  workerClass: 'local',
  state,
  ...(state === 'waiting' ? {} : { hostId: 'h1' }),
  ...extra,
});

describe('chain waiting reasons', () => {
  it('a scheduled job waits for the job of its chain that is on the host', () => {
    const jobs = [
      job('install', 'running'),
      job('desktop', 'scheduled'),
      job('report', 'scheduled'),
      job('other', 'waiting', { setNumber: 2, waitingReason: 'waiting for a host' }),
    ];
    const out = withChainReasons(jobs, plan);
    expect(out.map((j) => j.waitingReason)).toEqual([
      undefined,
      'waiting for `install` to finish on host h1',
      'waiting for `install` to finish on host h1',
      'waiting for a host',
    ]);
  });

  it('moves on as the chain does; the first one is starting', () => {
    const later = [
      job('install', 'done', { result: { kind: 'passed' } }),
      job('desktop', 'provisioning'),
      job('report', 'scheduled'),
    ];
    expect(chainWaitingReason(later[2]!, later, plan)).toBe('waiting for `desktop` to finish on host h1');
    const first = [job('install', 'scheduled'), job('desktop', 'scheduled')];
    expect(chainWaitingReason(first[0]!, first, plan)).toBe('starting on host h1');
    expect(chainWaitingReason(first[1]!, first, plan)).toBe('waiting for `install` to finish on host h1');
  });

  it('looks only at the same attempt of the recipe set, and only at scheduled jobs', () => {
    const jobs = [
      job('install', 'running', { setNumber: 1 }),
      job('install', 'done', { setNumber: 3, result: { kind: 'passed' } }),
      job('desktop', 'scheduled', { setNumber: 3, hostId: 'h2' }),
    ];
    expect(chainWaitingReason(jobs[2]!, jobs, plan)).toBe('starting on host h2');
    expect(chainWaitingReason(jobs[0]!, jobs, plan)).toBeUndefined();
  });
});
