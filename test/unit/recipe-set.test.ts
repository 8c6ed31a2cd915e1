import { describe, expect, it } from 'vitest';
import { AbortCause, partnerDidNotPass } from '../../src/domain/outcome.js';
import { cancelledBeforeStart, everyJobEndsAs, resultsOfChains } from '../../src/domain/recipe-set.js';

const recipes = [
  {
    jobs: [
      { id: 'j.1', name: 'server' },
      { id: 'j.2', name: 'late', preSkipped: 'its startAfter parent failed' },
    ],
  },
  { jobs: [{ id: 'j.3', name: 'client' }] },
];

describe('what a recipe set ends with', () => {
  it('every job one result when no chain ran, except a job that was never to run', () => {
    expect(everyJobEndsAs(recipes, { kind: 'cancelled', reason: 'queue timeout' })).toEqual({
      'j.1': { kind: 'cancelled', reason: 'queue timeout' },
      'j.2': { kind: 'skipped', reason: 'its startAfter parent failed' },
      'j.3': { kind: 'cancelled', reason: 'queue timeout' },
    });
  });

  it('a cancel of one job before any host was leased cancels its chain and skips its partners', () => {
    expect(cancelledBeforeStart(recipes, 'stop', 'j.3')).toEqual({
      'j.1': { kind: 'skipped', reason: partnerDidNotPass('client', 'cancelled') },
      'j.2': { kind: 'skipped', reason: partnerDidNotPass('client', 'cancelled') },
      'j.3': { kind: 'cancelled', reason: 'stop' },
    });
    expect(cancelledBeforeStart(recipes, 'stop')['j.1']).toEqual({ kind: 'cancelled', reason: 'stop' });
  });

  it('a job its chain has no result for is aborted, saying which host and why', () => {
    const results = resultsOfChains(
      recipes,
      ['h1', 'h2'],
      [
        { status: 'fulfilled', value: { results: { 'j.1': { kind: 'passed' } } } },
        { status: 'rejected', reason: new Error('terminated') },
      ],
    );
    expect(results['j.1']).toEqual({ kind: 'passed' });
    expect(results['j.2']).toEqual({
      kind: 'aborted',
      cause: AbortCause.Internal,
      reason: 'chain workflow on h1 failed: no result',
    });
    expect(results['j.3']).toEqual({
      kind: 'aborted',
      cause: AbortCause.Internal,
      reason: 'chain workflow on h2 failed: Error: terminated',
    });
  });
});
