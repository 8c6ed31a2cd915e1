import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PresenceWatch } from '../../src/activities/host/presence-watch.js';
import { presenceBeatMs } from '../../src/activities/host/presence.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('PresenceWatch (a host registers again when its presence never came)', () => {
  it('says nothing when the presence started in time', () => {
    const missing: string[] = [];
    const watch = new PresenceWatch(
      60_000,
      (id) => missing.push(id),
      () => 0.5,
    );
    watch.registered('a');
    vi.advanceTimersByTime(30_000);
    watch.presenceStarted('a');
    vi.advanceTimersByTime(60_000);
    expect(missing).toEqual([]);
  });

  it('names the registration whose presence did not start within the wait', () => {
    const missing: string[] = [];
    const watch = new PresenceWatch(
      60_000,
      (id) => missing.push(id),
      () => 0.5,
    );
    watch.registered('a');
    vi.advanceTimersByTime(59_999);
    expect(missing).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(missing).toEqual(['a']);
  });

  it("an older registration's late presence does not count for the newer one", () => {
    const missing: string[] = [];
    const watch = new PresenceWatch(
      60_000,
      (id) => missing.push(id),
      () => 0.5,
    );
    watch.registered('a');
    vi.advanceTimersByTime(10_000);
    watch.registered('b');
    watch.presenceStarted('a');
    vi.advanceTimersByTime(60_000);
    expect(missing).toEqual(['b']);
  });

  it('a stopped watch stays quiet', () => {
    const missing: string[] = [];
    const watch = new PresenceWatch(
      60_000,
      (id) => missing.push(id),
      () => 0.5,
    );
    watch.registered('a');
    watch.stop();
    vi.advanceTimersByTime(120_000);
    expect(missing).toEqual([]);
  });
});

describe('PresenceWatch backs off while no presence comes', () => {
  it('doubles the wait for each registration in a row that got none, and starts over once one came', () => {
    const missing: Array<{ id: string; at: number }> = [];
    let now = 0;
    const watch = new PresenceWatch(
      60_000,
      (id) => missing.push({ id, at: now }),
      () => 0.5,
    );
    const step = (ms: number) => {
      now += ms;
      vi.advanceTimersByTime(ms);
    };
    watch.registered('a');
    step(60_000);
    watch.registered('b');
    step(119_999);
    expect(missing.map((m) => m.id)).toEqual(['a']);
    step(1);
    expect(missing.map((m) => m.id)).toEqual(['a', 'b']);
    watch.registered('c');
    watch.presenceStarted('c');
    watch.registered('d');
    step(60_000);
    expect(missing.map((m) => m.id)).toEqual(['a', 'b', 'd']);
  });

  it('waits at most ten minutes', () => {
    const missing: string[] = [];
    const watch = new PresenceWatch(
      60_000,
      (id) => missing.push(id),
      () => 0.5,
    );
    for (let i = 0; i < 8; i++) {
      watch.registered(`r${i}`);
      vi.advanceTimersByTime(10 * 60_000);
      expect(missing).toHaveLength(i + 1);
    }
  });
});

it('spreads the wait by ±20 %', () => {
  const early: string[] = [];
  new PresenceWatch(
    60_000,
    (id) => early.push(id),
    () => 0,
  ).registered('a');
  vi.advanceTimersByTime(48_000);
  expect(early).toEqual(['a']);
  const late: string[] = [];
  new PresenceWatch(
    60_000,
    (id) => late.push(id),
    () => 0.999,
  ).registered('b');
  vi.advanceTimersByTime(71_000);
  expect(late).toEqual([]);
  vi.advanceTimersByTime(1_000);
  expect(late).toEqual(['b']);
});

it('a presence heartbeats three times per heartbeat timeout, at least once a second', () => {
  expect(presenceBeatMs(10_000)).toBe(3_333);
  expect(presenceBeatMs(30_000)).toBe(10_000);
  expect(presenceBeatMs(2_000)).toBe(1_000);
  expect(presenceBeatMs(undefined)).toBe(1_000);
});
