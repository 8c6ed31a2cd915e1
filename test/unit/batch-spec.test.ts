/**
 * A batch run's fields in the job spec: defaults, the deadline of each batch (scaled to its
 * size unless the spec gave one), the caps that keep timers honest, and the listing chunks.
 */
import { describe, expect, it } from 'vitest';
import { chunkIds } from '../../src/activities/host/list-tests.js';
import {
  batchTimeoutFor,
  BATCH_START_ALLOWANCE_MS,
  LIST_CHUNK_BYTES,
  MAX_BATCH_TIMEOUT_MS,
  MAX_TIMER_MS,
  timerMs,
} from '../../src/domain/batch-work.js';
import { formatIssue, validateSpec } from '../../src/domain/parse-spec.js';
import { buildPlan } from '../../src/domain/plan.js';

const run = (extra: Record<string, unknown> = {}) => ({
  batchRuns: [
    { name: 'suite', workerClass: 'local', runner: { command: ['batch-test'] }, tests: ['a', 'b'], ...extra },
  ],
});
function parsed(extra: Record<string, unknown> = {}) {
  const r = validateSpec(run(extra));
  if (!r.ok) throw new Error(r.issues.map(formatIssue).join('; '));
  return r.submission.batchRuns![0]!;
}
function issues(extra: Record<string, unknown>): string[] {
  const r = validateSpec(run(extra));
  if (r.ok) throw new Error('expected the spec to be rejected');
  return r.issues.map(formatIssue);
}

describe('a batch run in the job spec', () => {
  it('fills in the defaults', () => {
    expect(parsed()).toMatchObject({
      batchSize: 50,
      testTimeoutMs: 300_000,
      requeueLimit: 2,
      maxRequeueRatio: 0.25,
      retryFailed: 0,
      maxHosts: 10,
    });
  });

  it("scales each batch's deadline to its size unless batchTimeoutMs is given", () => {
    const scaled = parsed({ batchSize: 20, testTimeoutMs: 10_000 });
    expect(scaled).not.toHaveProperty('batchTimeoutGiven');
    // A full batch: every test at its limit, plus the runner's start.
    expect(scaled.batchTimeoutMs).toBe(20 * 10_000 + BATCH_START_ALLOWANCE_MS);
    expect(batchTimeoutFor(scaled, 20)).toBe(scaled.batchTimeoutMs);
    // An isolated test gets its own limit, not a full batch's.
    expect(batchTimeoutFor(scaled, 1)).toBe(10_000 + BATCH_START_ALLOWANCE_MS);

    const given = parsed({ batchSize: 20, testTimeoutMs: 10_000, batchTimeoutMs: 3_000 });
    expect(given).toMatchObject({ batchTimeoutMs: 3_000, batchTimeoutGiven: true });
    expect(batchTimeoutFor(given, 1)).toBe(3_000);
    expect(batchTimeoutFor(given, 20)).toBe(3_000);
  });

  it('carries the given deadline through the plan to the workflow', () => {
    const r = validateSpec(run({ batchTimeoutMs: 3_000 }));
    if (!r.ok) throw new Error('rejected');
    expect(buildPlan(r.submission).batchRuns[0]).toMatchObject({
      batchTimeoutMs: 3_000,
      batchTimeoutGiven: true,
      testCount: 2,
    });
  });

  it('caps testTimeoutMs and batchTimeoutMs at 7 days, and never scales a deadline past that', () => {
    expect(issues({ testTimeoutMs: MAX_BATCH_TIMEOUT_MS + 1 })).toEqual([
      `batchRuns.0.testTimeoutMs: at most ${MAX_BATCH_TIMEOUT_MS} ms (7 days)`,
    ]);
    expect(issues({ batchTimeoutMs: 2 ** 31 })).toEqual([
      `batchRuns.0.batchTimeoutMs: at most ${MAX_BATCH_TIMEOUT_MS} ms (7 days)`,
    ]);
    const long = parsed({ batchSize: 10_000, testTimeoutMs: MAX_BATCH_TIMEOUT_MS });
    expect(long.batchTimeoutMs).toBe(MAX_BATCH_TIMEOUT_MS);
    expect(batchTimeoutFor(long, 10_000)).toBe(MAX_BATCH_TIMEOUT_MS);
    expect(MAX_BATCH_TIMEOUT_MS).toBeLessThan(MAX_TIMER_MS);
  });

  it('clamps host timers to what setTimeout can wait (above 2^31 - 1 ms it fires at once)', () => {
    expect(timerMs(2 ** 31)).toBe(MAX_TIMER_MS);
    expect(timerMs(-5)).toBe(0);
    expect(timerMs(1234.4)).toBe(1234);
  });

  it("splits a long listing into chunks well below Temporal's payload limit", () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => `suite/module-${Math.floor(i / 100)}/case-${i}`);
    const chunks = chunkIds(ids);
    expect(chunks.reduce((n, c) => n + c.count, 0)).toBe(100_000);
    expect(chunks[0]!.offset).toBe(0);
    for (const [i, c] of chunks.entries()) {
      if (i > 0) expect(c.offset).toBe(chunks[i - 1]!.offset + chunks[i - 1]!.count);
      expect(JSON.stringify(ids.slice(c.offset, c.offset + c.count)).length).toBeLessThanOrEqual(LIST_CHUNK_BYTES + 2);
    }
    expect(chunkIds(['x'])).toEqual([{ offset: 0, count: 1 }]);
  });
});
