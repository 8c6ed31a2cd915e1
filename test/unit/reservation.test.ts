import { describe, expect, it } from 'vitest';
import {
  allocate,
  enqueue,
  explainWait,
  hostState,
  markReserved,
  newLab,
  registerHost,
  setPriority,
  whyImpossible,
  type LabState,
  type RecipeRequest,
} from '../../src/domain/lab.js';
import { parseRequirement } from '../../src/domain/requirements.js';
import {
  extendReservation,
  formatDuration,
  reservationDue,
  reserveCapIssues,
  shouldReserve,
  type Reservation,
} from '../../src/domain/reservation.js';
import type { JobResult } from '../../src/domain/outcome.js';
import { job, plan, rejected, spec } from '../helpers/spec.js';

const failed: JobResult = { kind: 'failed', reason: '1 of 3 tests failed' };
const crashed: JobResult = { kind: 'aborted', cause: 'runner-crash', reason: 'runner died of SIGSEGV' };
const timedOut: JobResult = { kind: 'aborted', cause: 'run-timeout', reason: 'took longer than 60 s' };
const lost: JobResult = { kind: 'aborted', cause: 'host-lost', reason: 'host h1 stopped heartbeating' };
const passed: JobResult = { kind: 'passed' };
const cancelled: JobResult = { kind: 'cancelled', reason: 'cancelled by tester' };

describe('when a job keeps its host', () => {
  it('holds for the result its `when` names, a crash or a timeout included, never for a lost host', () => {
    expect(shouldReserve('failed', failed)).toBe(true);
    expect(shouldReserve('failed', crashed)).toBe(false);
    expect(shouldReserve('aborted', crashed)).toBe(true);
    expect(shouldReserve('aborted', timedOut)).toBe(true);
    expect(shouldReserve('aborted', lost)).toBe(false);
    expect(shouldReserve('always', passed)).toBe(true);
    expect(shouldReserve('always', lost)).toBe(false);
    expect(shouldReserve('always', cancelled)).toBe(false);
  });

  it('takes the first job of the chain whose result asks for it, and none after a cancel', () => {
    const jobs = [
      { id: 's.1', name: 'install', reserve: { when: 'aborted' as const, durationMs: 1000 } },
      { id: 's.2', name: 'test', reserve: { when: 'failed' as const, durationMs: 2000, sshKeys: ['k'] } },
    ];
    expect(reservationDue(jobs, { 's.1': passed, 's.2': failed })).toEqual({
      jobId: 's.2',
      jobName: 'test',
      durationMs: 2000,
      sshKeys: ['k'],
      why: 'job `test` failed: 1 of 3 tests failed',
    });
    expect(reservationDue(jobs, { 's.1': passed, 's.2': passed })).toBeUndefined();
    expect(reservationDue(jobs, { 's.1': passed, 's.2': failed }, true)).toBeUndefined();
  });
});

describe('extending a reservation', () => {
  const r: Pick<Reservation, 'since' | 'until' | 'capMs'> = { since: 0, until: 3_600_000, capMs: 3 * 3_600_000 };
  it('moves its end on, within the cap counted from its start', () => {
    expect(extendReservation(r, 3_600_000, 10)).toEqual({ ok: true, until: 7_200_000 });
    expect(extendReservation(r, 2 * 3_600_000, 10)).toEqual({ ok: true, until: 3 * 3_600_000 });
    expect(extendReservation(r, 2 * 3_600_000 + 1, 10)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/above the cap of 3h \(at most 2h more\)/),
    });
    expect(extendReservation(r, 0, 10)).toMatchObject({ ok: false });
  });
  it('names the field over the server cap', () => {
    expect(reserveCapIssues([{}, { reserve: { when: 'failed', durationMs: 5 * 3_600_000 } }], 3_600_000)).toEqual([
      {
        path: ['jobs', 1, 'reserve', 'durationMs'],
        message: "18000000 ms (5h) is above this server's cap of 1h (TESTBAY_MAX_RESERVE_MS)",
      },
    ]);
    expect(formatDuration(90 * 60_000)).toBe('1h30m');
    expect(formatDuration(45_000)).toBe('45s');
  });
});

describe('the spec', () => {
  it('takes reserve and host on a job or from defaults, with the default duration', () => {
    const p = plan({ defaults: { reserve: { when: 'failed' } }, jobs: [job('a', { host: 'h3' })] });
    expect(p.jobs[0]!.reserve).toEqual({ when: 'failed', durationMs: 3_600_000 });
    expect(p.recipes[0]!.host).toBe('h3');
  });
  it('refuses an unknown `when`, a key that is no SSH key, jobs of one chain pinned to two hosts and partners pinned to one', () => {
    expect(rejected(spec(job('a', { reserve: { when: 'sometimes' } as never })))).toEqual([
      expect.stringMatching(/^jobs\.0\.reserve\.when: must be one of failed, aborted, always/),
    ]);
    expect(rejected(spec(job('a', { reserve: { when: 'failed', sshKeys: ['hello'] } })))[0]).toMatch(
      /sshKeys\.0: must be one SSH public key line/,
    );
    expect(rejected(spec(job('a', { host: 'h1' }), job('b', { host: 'h2', startDirectlyAfter: 'a' })))).toEqual([
      expect.stringMatching(/^jobs\.1\.host: `b` runs on the same host as `a` .* name different hosts \(h2 vs h1\)/),
    ]);
    expect(rejected(spec(job('a', { host: 'h1', parallelWith: 'b' }), job('b', { host: 'h1' })))).toEqual([
      expect.stringMatching(/^jobs\.1\.host: .* both are pinned to h1/),
    ]);
  });
});

function lab(hosts: [string, string[], Record<string, string>?][]): LabState {
  const l = newLab('salt');
  for (const [id, classes, caps] of hosts)
    registerHost(
      l,
      {
        hostId: id,
        instanceId: `i-${id}`,
        workerClasses: classes,
        capabilities: caps ?? {},
        hostname: id,
        address: '10.0.0.1',
      },
      0,
    );
  return l;
}
const recipe = (extra: Partial<RecipeRequest> = {}): RecipeRequest => ({
  workerClass: 'x',
  hostRequires: [],
  excludedHosts: [],
  previousHosts: [],
  ...extra,
});
const ask = (l: LabState, id: string, r: RecipeRequest, priority = 50) =>
  enqueue(l, { requestId: id, requester: id, label: id, priority, recipes: [r] }, 0);
const shown = (hostId: string): Reservation => ({
  kind: 'job',
  by: 'tester',
  why: 'job `a` failed',
  since: 0,
  until: 60_000,
  capMs: 1e9,
  holder: 'chain',
  hostId,
  address: '10.0.0.1',
  hostname: hostId,
});

describe('the scheduler and reservations', () => {
  it('shows a reserved lease as reserved, keeps it out of the pool, and explains the wait', () => {
    const l = lab([['h1', ['x']]]);
    ask(l, 'first', recipe());
    const [grant] = allocate(l, 1);
    expect(markReserved(l, 'h1', 'wrong-token', shown('h1'))).toBe(false);
    expect(markReserved(l, 'h1', grant!.leases[0]!.token, shown('h1'))).toBe(true);
    expect(hostState(l.hosts.h1!)).toBe('reserved');
    ask(l, 'second', recipe());
    expect(allocate(l, 2)).toEqual([]);
    expect(explainWait(l, 'second')).toMatch(
      /^host h1 \(the only host of class x\) is reserved by tester until 1970-01-01 00:01 UTC \(job `a` failed\)/,
    );
  });

  it('pins a recipe to a named host, and says when that host cannot take it', () => {
    const l = lab([
      ['h1', ['x'], { mem: '8' }],
      ['h2', ['x']],
    ]);
    ask(l, 'pinned', recipe({ hostId: 'h2' }));
    expect(allocate(l, 1)[0]!.leases[0]!.hostId).toBe('h2');
    expect(whyImpossible(l, [recipe({ hostId: 'h9' })])).toBe('host h9 is not in the lab');
    expect(whyImpossible(l, [recipe({ hostId: 'h1', workerClass: 'y' })])).toBe(
      'host h1 does not offer class y (it offers x)',
    );
    const needs = parseRequirement('mem >= 16');
    if (!needs.ok) throw new Error(needs.error);
    expect(whyImpossible(l, [recipe({ hostId: 'h1', hostRequires: [needs.value] })])).toBe(
      'host h1 does not satisfy mem >= 16',
    );
    expect(whyImpossible(l, [recipe({ hostId: 'h1', excludedHosts: ['h1'] })])).toBe(
      'host h1 is excluded (an earlier attempt aborted there)',
    );
  });

  it("changes a queued request's priority, and the order of the queue with it", () => {
    const l = lab([['h1', ['x']]]);
    ask(l, 'busy', recipe());
    allocate(l, 0);
    ask(l, 'a', recipe(), 60);
    ask(l, 'b', recipe(), 70);
    expect(setPriority(l, 'b', 55)).toEqual({ previous: 70 });
    expect(setPriority(l, 'gone', 1)).toBeUndefined();
    expect(explainWait(l, 'b')).toMatch(/1st in queue/);
  });

  it('lends a named host even when it is broken, but not when it holds a lease', () => {
    const l = lab([['h1', ['x']]]);
    l.hosts.h1!.broken = { reason: 'disk', source: 'operator', at: 0 };
    enqueue(
      l,
      {
        requestId: 'loan',
        requester: 'loan',
        label: 'loan',
        priority: 0,
        recipes: [recipe({ hostId: 'h1' })],
        loanOf: 'h1',
      },
      0,
    );
    expect(allocate(l, 1)).toHaveLength(1);
    expect(
      enqueue(
        l,
        {
          requestId: 'loan2',
          requester: 'loan2',
          label: 'loan',
          priority: 0,
          recipes: [recipe({ hostId: 'h9' })],
          loanOf: 'h9',
        },
        0,
      ),
    ).toEqual({ queued: false, reason: 'host h9 is not in the lab' });
  });
});
