import { describe, expect, it } from 'vitest';
import { validateSpec } from '../../src/domain/parse-spec.js';
import { initialJobNumbers } from '../../src/domain/plan.js';
import { restartHistory, selectRestart } from '../../src/domain/restart.js';
import { job, plan, rejected, spec } from '../helpers/spec.js';

describe('planner', () => {
  it('puts a directly-chained tree on one recipe, parents first, children in spec order', () => {
    // A → (B → C, D → E)
    const p = plan(
      spec(
        job('A'),
        job('B', { startDirectlyAfter: 'A' }),
        job('D', { startDirectlyAfter: 'A' }),
        job('C', { startDirectlyAfter: 'B' }),
        job('E', { startDirectlyAfter: 'D' }),
      ),
    );
    expect(p.recipes).toHaveLength(1);
    expect(p.recipes[0]!.jobs).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(p.recipeSets).toHaveLength(1);
  });

  it('groups parallelWith partners into one recipe set with one recipe each', () => {
    const p = plan(spec(job('server', { parallelWith: 'client' }), job('client'), job('other')));
    expect(p.recipeSets).toHaveLength(2);
    expect(p.recipeSets[0]!.jobs).toEqual(['server', 'client']);
    expect(p.recipeSets[0]!.recipes).toHaveLength(2);
  });

  it('turns startAfter into edges between recipe sets', () => {
    const p = plan(
      spec(job('build'), job('test', { startAfter: ['build'] }), job('report', { startAfter: ['test', 'build'] })),
    );
    expect(p.recipeSets.map((s) => s.after)).toEqual([[], [0], [0, 1]]);
  });

  it('merges the requirements of a chain and takes the strictest retry and priority of a set', () => {
    const p = plan(
      spec(
        job('a', { hostRequires: ['arch == x86_64'], maxRetries: 1, priority: 70 }),
        job('b', { startDirectlyAfter: 'a', hostRequires: ['memory_gb >= 16'], maxRetries: 3, priority: 20 }),
      ),
    );
    expect(p.recipes[0]!.hostRequires.map((r) => `${r.key}${r.op}${r.value}`)).toEqual([
      'arch==x86_64',
      'memory_gb>=16',
    ]);
    expect(p.recipeSets[0]).toMatchObject({ maxRetries: 3, priority: 20 });
  });

  it('numbers first-attempt jobs set by set, in chain order', () => {
    const p = plan(
      spec(job('late', { startAfter: ['first'] }), job('first'), job('next', { startDirectlyAfter: 'first' })),
    );
    expect([...initialJobNumbers(p)]).toEqual([
      ['late', 1],
      ['first', 2],
      ['next', 3],
    ]);
  });

  describe('rejects with an error naming the jobs (AC5)', () => {
    it('an unknown parent', () => {
      expect(rejected(spec(job('a', { startAfter: ['nope'] })))).toEqual(['jobs.0.startAfter.0: unknown job `nope`']);
      expect(rejected(spec(job('a', { startDirectlyAfter: 'ghost' })))).toEqual([
        'jobs.0.startDirectlyAfter: unknown job `ghost`',
      ]);
    });

    it('duplicate names', () => {
      expect(rejected(spec(job('a'), job('a')))).toEqual(['jobs.1.name: duplicate job name `a` (also jobs.0)']);
    });

    it('a cycle, with its path', () => {
      expect(
        rejected(
          spec(job('a', { startAfter: ['c'] }), job('b', { startAfter: ['a'] }), job('c', { startDirectlyAfter: 'b' })),
        ),
      ).toEqual(['jobs.0.startAfter.0: dependency cycle: `a` → `b` → `c` → `a`']);
      expect(rejected(spec(job('a', { startAfter: ['a'] })))).toEqual([
        'jobs.0.startAfter.0: job `a` cannot depend on itself',
      ]);
    });

    it('startDirectlyAfter between different worker classes', () => {
      expect(rejected(spec(job('a'), job('b', { workerClass: 'ipmi', startDirectlyAfter: 'a' })))).toEqual([
        'jobs.1.startDirectlyAfter: `b` runs directly after `a` on the same host, but their worker classes differ (ipmi vs local)',
      ]);
    });

    it('startDirectlyAfter with incompatible host requirements', () => {
      expect(
        rejected(
          spec(
            job('a', { hostRequires: ['arch == x86_64'] }),
            job('b', { hostRequires: ['arch == aarch64'], startDirectlyAfter: 'a' }),
          ),
        )[0],
      ).toMatch(
        /^jobs\.1\.startDirectlyAfter: `b` runs directly after `a` on the same host, but no host can satisfy "arch == aarch64" and "arch == x86_64"/,
      );
      expect(
        rejected(
          spec(
            job('a', { hostRequires: ['memory_gb < 8'] }),
            job('b', { hostRequires: ['memory_gb >= 16'], startDirectlyAfter: 'a' }),
          ),
        ),
      ).toHaveLength(1);
    });

    it('host requirements that two branches of one chain tree cannot both meet on its one host', () => {
      // A → B (x86_64) and A → D (aarch64): each agrees with A, but they share A's host.
      expect(
        rejected(
          spec(
            job('A'),
            job('B', { startDirectlyAfter: 'A', hostRequires: ['arch == x86_64'] }),
            job('D', { startDirectlyAfter: 'A', hostRequires: ['arch == aarch64'] }),
          ),
        ),
      ).toEqual([
        'jobs.2.startDirectlyAfter: `D` and `B` run on the same host (`A` → `B` and `A` → `D`), but no host can satisfy "arch == aarch64" and "arch == x86_64"',
      ]);
      // Deeper down a branch, and a bound from one branch against an equality of another.
      expect(
        rejected(
          spec(
            job('A'),
            job('B', { startDirectlyAfter: 'A', hostRequires: ['memory_gb >= 16'] }),
            job('C', { startDirectlyAfter: 'B' }),
            job('D', { startDirectlyAfter: 'A' }),
            job('E', { startDirectlyAfter: 'D', hostRequires: ['memory_gb == 8'] }),
          ),
        ),
      ).toEqual([
        'jobs.4.startDirectlyAfter: `E` and `B` run on the same host (`A` → `B` and `A` → `D` → `E`), but no host can satisfy "memory_gb == 8" and "memory_gb >= 16"',
      ]);
      // Branches that agree are fine.
      expect(
        plan(
          spec(
            job('A'),
            job('B', { startDirectlyAfter: 'A', hostRequires: ['arch == x86_64'] }),
            job('D', { startDirectlyAfter: 'A', hostRequires: ['memory_gb >= 4'] }),
          ),
        ).recipes,
      ).toHaveLength(1);
    });

    it('parallelWith inside one chain, or with a job that is not first in its chain', () => {
      expect(rejected(spec(job('a'), job('b', { startDirectlyAfter: 'a', parallelWith: 'a' })))[0]).toMatch(
        /`b` and `a` are in the same chain on one host/,
      );
      expect(
        rejected(spec(job('a'), job('b', { startDirectlyAfter: 'a' }), job('c', { parallelWith: 'b' })))[0],
      ).toMatch(/^jobs\.2\.parallelWith\.0: `b` runs directly after `a`, so it cannot start together with `c`/);
    });

    it('startAfter inside one chain or between parallel partners', () => {
      expect(
        rejected(
          spec(
            job('a'),
            job('b', { startDirectlyAfter: 'a' }),
            job('c', { startDirectlyAfter: 'a', startAfter: ['b'] }),
          ),
        )[0],
      ).toMatch(/`c` and `b` run in the same chain on one host; order them with startDirectlyAfter/);
      expect(rejected(spec(job('a', { parallelWith: 'b' }), job('b', { startAfter: ['a'] })))[0]).toMatch(
        /`b` starts together with `a` \(parallelWith\)/,
      );
    });

    it('a chain that would have to wait for itself', () => {
      // b runs directly after a, but also waits for c, which waits for a.
      const found = rejected(
        spec(job('a'), job('b', { startDirectlyAfter: 'a', startAfter: ['c'] }), job('c', { startAfter: ['a'] })),
      );
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(/cannot be placed/);
    });
  });
});

describe('restart', () => {
  const submission = () => {
    const r = validateSpec(
      spec(
        job('A'),
        job('B', { startDirectlyAfter: 'A' }),
        job('C', { startDirectlyAfter: 'B' }),
        job('D', { startDirectlyAfter: 'A' }),
        job('report', { startAfter: ['B', 'other'] }),
        job('other'),
        job('partner', { parallelWith: 'report' }),
      ),
    );
    if (!r.ok) throw new Error('bad');
    return r.submission;
  };

  it('re-runs a chained job with its chain ancestors and its dependents, and their partners', () => {
    const s = selectRestart(submission(), 'B', true);
    expect(s.jobs.map((j) => j.name)).toEqual(['A', 'B', 'C', 'report', 'partner']);
    expect(s.jobs.find((j) => j.name === 'report')!.startAfter).toEqual(['B']);
  });

  it('carries over the attempt each re-run job reached and the hosts of all its attempts', () => {
    const jobs = [
      { id: 's.1', name: 'A', setNumber: 1, attempt: 1, workerClass: 'local', state: 'done' as const, hostId: 'h1' },
      { id: 's.2', name: 'B', setNumber: 1, attempt: 1, workerClass: 'local', state: 'done' as const, hostId: 'h1' },
      { id: 's.3', name: 'A', setNumber: 2, attempt: 2, workerClass: 'local', state: 'done' as const, hostId: 'h2' },
      { id: 's.4', name: 'B', setNumber: 2, attempt: 2, workerClass: 'local', state: 'done' as const, hostId: 'h2' },
      { id: 's.5', name: 'never', setNumber: 3, attempt: 1, workerClass: 'local', state: 'done' as const },
    ];
    expect(restartHistory({ jobs }, ['A', 'B', 'never', 'new'])).toEqual({
      A: { attempt: 2, hosts: ['h1', 'h2'] },
      B: { attempt: 2, hosts: ['h1', 'h2'] },
      never: { attempt: 1, hosts: [] },
    });
  });

  it('leaves the dependents out when asked', () => {
    expect(selectRestart(submission(), 'B', false).jobs.map((j) => j.name)).toEqual(['A', 'B']);
    expect(selectRestart(submission(), 'other', false).jobs.map((j) => j.name)).toEqual(['other']);
  });
});
