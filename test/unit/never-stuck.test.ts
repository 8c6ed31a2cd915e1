/**
 * Pure rules that keep a submission from being stuck: search attributes stay under
 * Temporal's size limit, and a submission whose workflow is gone ends with what it had.
 */
import { describe, expect, it } from 'vitest';
import { abortedView, type SubmissionView } from '../../src/domain/views.js';
import {
  fitList,
  memoText,
  SEARCH_VALUE_MAX_BYTES,
  workflowSearchAttributes,
} from '../../src/workflows/search-attributes.js';

describe('search attribute values', () => {
  it('keep the longest head of the list that fits, without duplicates', () => {
    const names = Array.from({ length: 40 }, (_, i) => `${i}-${'x'.repeat(98)}`);
    const kept = fitList([...names, ...names]);
    expect(Buffer.byteLength(JSON.stringify(kept))).toBeLessThanOrEqual(SEARCH_VALUE_MAX_BYTES);
    expect(kept).toEqual(names.slice(0, kept.length));
    expect(kept.length).toBeGreaterThan(15);
    expect(fitList(['a', 'b', 'a'])).toEqual(['a', 'b']);
  });

  it('count bytes, not characters', () => {
    const wide = Array.from({ length: 100 }, (_, i) => `${i}-${'é'.repeat(40)}`);
    expect(Buffer.byteLength(JSON.stringify(fitList(wide)))).toBeLessThanOrEqual(SEARCH_VALUE_MAX_BYTES);
  });

  it('are built in one place, for every workflow kind', () => {
    const attrs = workflowSearchAttributes({
      submissionId: 's1',
      jobs: ['a', 's1.1'],
      workerClasses: ['qemu', 'qemu'],
      hosts: [],
    });
    expect(attrs.map((a) => [a.key.name, a.value])).toEqual([
      ['TestbaySubmission', 's1'],
      ['TestbayJob', ['a', 's1.1']],
      ['TestbayWorkerClass', ['qemu']],
    ]);
    expect(memoText('x'.repeat(2000))).toHaveLength(1000);
  });
});

describe('a submission whose workflow is gone', () => {
  const running: SubmissionView = {
    id: 's1',
    state: 'running',
    createdAt: '2026-12-01T00:00:00.000Z',
    workflowId: 'sub-s1',
    recipeSets: [
      {
        number: 1,
        planIndex: 0,
        attempt: 1,
        state: 'running',
        jobIds: ['s1.1', 's1.2'],
        hosts: ['h1'],
        excludedHosts: [],
        workflowId: 'rs-s1-1',
      },
    ],
    jobs: [
      {
        id: 's1.1',
        name: 'install',
        setNumber: 1,
        attempt: 1,
        workerClass: 'local',
        state: 'done',
        result: { kind: 'passed' },
      },
      { id: 's1.2', name: 'desktop', setNumber: 1, attempt: 1, workerClass: 'local', state: 'running' },
    ],
    notice: 'live state unavailable',
  };

  it("keeps what ended and aborts the rest with the workflow's reason", () => {
    const final = abortedView(running, 'its workflow was terminated: by hand', '2026-12-01T01:00:00.000Z');
    expect(final.state).toBe('done');
    expect(final.result).toBe('aborted');
    expect(final.endedAt).toBe('2026-12-01T01:00:00.000Z');
    expect(final.notice).toBeUndefined();
    expect(final.jobs[0]!.result).toEqual({ kind: 'passed' });
    expect(final.jobs[1]).toMatchObject({
      state: 'done',
      result: { kind: 'aborted', cause: 'internal', reason: 'its workflow was terminated: by hand' },
    });
    expect(final.recipeSets[0]!.state).toBe('done');
  });
});
