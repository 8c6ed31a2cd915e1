/**
 * The partner rules (domain/partners.ts): a barrier counts recipes and is reached once
 * every recipe arrived, cannot be reached once a recipe that did not arrive ended; a
 * receive gets the first partner's value (never its own), waits, or learns that nobody is
 * left to send; names are validated; TESTBAY_PARTNERS lists every job where it runs.
 */
import { describe, expect, it } from 'vitest';
import {
  arrive,
  barrierName,
  barrierState,
  cannotSend,
  emptyPartnerState,
  MAX_MESSAGE_BYTES,
  hostAddressOf,
  messageKey,
  notAPartner,
  partnersOf,
  receiveState,
  send,
  type SetMembers,
} from '../../src/domain/partners.js';
import { validateSpec } from '../../src/domain/parse-spec.js';
import { buildPlan } from '../../src/domain/plan.js';

// Recipe 0: server; recipe 1: client, then client2 directly after it (a chain on one host).
const members: SetMembers = {
  recipeOf: { server: 0, client: 1, client2: 1 },
  nameOf: { 'j.1': 'server', 'j.2': 'client', 'j.3': 'client2' },
  recipeCount: 2,
};

describe('barriers', () => {
  it('are reached once some job of every recipe arrived, and arriving twice changes nothing', () => {
    const s = emptyPartnerState();
    arrive(s, members, 'server', 'up');
    arrive(s, members, 'server', 'up');
    expect(barrierState(s, members, 'up')).toEqual({
      state: 'waiting',
      barrier: 'up',
      waitingFor: ['client', 'client2'],
    });
    arrive(s, members, 'client2', 'up');
    expect(barrierState(s, members, 'up')).toEqual({ state: 'reached', barrier: 'up' });
    expect(s.barriers.up).toEqual([0, 1]);
  });

  it('cannot be reached once a recipe that did not arrive ended, naming its jobs; one that arrived and ended still counts', () => {
    const s = emptyPartnerState();
    arrive(s, members, 'client', 'a');
    s.ended.push(0);
    expect(barrierState(s, members, 'a')).toEqual({
      state: 'partner-ended',
      barrier: 'a',
      reason: 'partner `server` ended before reaching barrier `a`',
    });
    const t = emptyPartnerState();
    arrive(t, members, 'server', 'b');
    t.ended.push(0);
    arrive(t, members, 'client', 'b');
    expect(barrierState(t, members, 'b').state).toBe('reached');
  });
});

describe('messages', () => {
  it('a receive gets the first partner that sent the key, never its own, and a resend replaces the value', () => {
    const s = emptyPartnerState();
    send(s, 'client', 'port', 'mine');
    expect(receiveState(s, members, 'client', 'port')).toEqual({ state: 'waiting', key: 'port' });
    send(s, 'server', 'port', '8080');
    send(s, 'server', 'port', '8081');
    expect(receiveState(s, members, 'client', 'port')).toEqual({
      state: 'received',
      key: 'port',
      from: 'server',
      value: '8081',
    });
    expect(receiveState(s, members, 'server', 'port')).toMatchObject({
      state: 'received',
      from: 'client',
      value: 'mine',
    });
    expect(receiveState(s, members, 'server', 'port', 'client2')).toEqual({ state: 'waiting', key: 'port' });
  });

  it('a receive learns when every job it could come from ended without sending', () => {
    const s = emptyPartnerState();
    s.ended.push(0);
    expect(receiveState(s, members, 'client', 'port')).toEqual({
      state: 'partner-ended',
      key: 'port',
      reason: 'every partner ended without sending `port`',
    });
    expect(receiveState(s, members, 'client', 'port', 'server')).toMatchObject({
      state: 'partner-ended',
      reason: 'partner `server` ended without sending `port`',
    });
    expect(receiveState(s, members, 'server', 'port')).toEqual({ state: 'waiting', key: 'port' });
  });

  it('refuses values over the limit, unknown jobs and unknown senders', () => {
    expect(cannotSend(emptyPartnerState(), 'server', 'k', 'x'.repeat(MAX_MESSAGE_BYTES + 1))).toMatch(
      /^value: at most/,
    );
    expect(cannotSend(emptyPartnerState(), 'server', 'k', 'ok')).toBeUndefined();
    expect(notAPartner(members, 'j.9')).toBe('job j.9 is not a job of this recipe set');
    expect(notAPartner(members, 'j.1', 'nobody')).toMatch(/^from: no job `nobody`/);
    expect(notAPartner(members, 'j.1', 'client')).toBeUndefined();
  });
});

describe('names and partners', () => {
  it('barrier names and keys take no spaces', () => {
    expect(barrierName.safeParse('two words').success).toBe(false);
    expect(messageKey.safeParse('server.port').success).toBe(true);
  });

  it('TESTBAY_PARTNERS lists every job with its host, address and role (address falls back to the hostname)', () => {
    const partners = partnersOf(
      [{ jobs: [{ id: 'j.1', name: 'server', role: 'SERVERS' }] }, { jobs: [{ id: 'j.2', name: 'client' }] }],
      [
        { hostId: 'h1', address: '10.0.0.1', hostname: 'rack1' },
        { hostId: 'h2', hostname: 'rack2' },
      ],
    );
    expect(partners).toEqual({
      server: { jobId: 'j.1', hostId: 'h1', address: '10.0.0.1', hostname: 'rack1', role: 'SERVERS' },
      client: { jobId: 'j.2', hostId: 'h2', address: 'rack2', hostname: 'rack2', role: 'client' },
    });
  });

  it("a reserved host is shown at its partners' address and hostname, or by its id without partners", () => {
    const partners = partnersOf(
      [{ jobs: [{ id: 'j.1', name: 'server' }] }],
      [{ hostId: 'h1', address: '10.0.0.1', hostname: 'rack1' }],
    );
    expect(hostAddressOf(partners, 'h1')).toEqual({ address: '10.0.0.1', hostname: 'rack1' });
    expect(hostAddressOf(partners, 'h2')).toEqual({ address: 'h2', hostname: 'h2' });
    expect(hostAddressOf(undefined, 'h1')).toEqual({ address: 'h1', hostname: 'h1' });
  });
});

describe('the spec', () => {
  const job = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    workerClass: 'w',
    runner: { command: ['r'] },
    ...extra,
  });

  it('takes role and stopPartnersOnFailure; the recipe set stops its partners unless one of its jobs says false', () => {
    const spec = validateSpec({
      jobs: [
        job('server', { parallelWith: 'client', role: 'SERVERS', stopPartnersOnFailure: false }),
        job('client'),
        job('alone'),
      ],
    });
    expect(spec.ok).toBe(true);
    if (!spec.ok) return;
    const plan = buildPlan(spec.submission);
    expect(plan.jobs.find((j) => j.name === 'server')?.role).toBe('SERVERS');
    expect(plan.recipeSets.map((s) => [s.jobs, s.stopPartnersOnFailure])).toEqual([
      [['server', 'client'], false],
      [['alone'], undefined],
    ]);
  });

  it('refuses jobs of one recipe set that disagree on stopPartnersOnFailure, and a role with spaces', () => {
    const spec = validateSpec({
      jobs: [
        job('a', { parallelWith: 'b', stopPartnersOnFailure: false }),
        job('b', { stopPartnersOnFailure: true, role: 'the client' }),
      ],
    });
    expect(spec.ok).toBe(false);
    if (spec.ok) return;
    expect(spec.issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['jobs.1.role']));
    const agree = validateSpec({
      jobs: [job('a', { parallelWith: 'b', stopPartnersOnFailure: false }), job('b', { stopPartnersOnFailure: true })],
    });
    expect(agree.ok).toBe(false);
    if (agree.ok) return;
    expect(agree.issues).toEqual([
      {
        path: ['jobs', 0, 'stopPartnersOnFailure'],
        message: expect.stringMatching(/disagree on stopPartnersOnFailure/),
      },
    ]);
  });
});
