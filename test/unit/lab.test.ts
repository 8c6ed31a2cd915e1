import { describe, expect, it } from 'vitest';
import {
  allocate,
  enqueue,
  explainWait,
  hostState,
  newLab,
  registerHost,
  release,
  setMaintenance,
  withdrawRequest,
  type LabState,
  type RecipeRequest,
} from '../../src/domain/lab.js';
import { parseRequirement } from '../../src/domain/requirements.js';

function lab(hosts: [string, string[], Record<string, string>?][]): LabState {
  const l = newLab('salt');
  for (const [id, classes, caps] of hosts) {
    registerHost(
      l,
      {
        hostId: id,
        instanceId: `i-${id}`,
        workerClasses: classes,
        capabilities: caps ?? {},
        hostname: id,
        address: '127.0.0.1',
      },
      0,
    );
  }
  return l;
}
const recipe = (workerClass: string, extra: Partial<RecipeRequest> = {}): RecipeRequest => ({
  workerClass,
  hostRequires: [],
  excludedHosts: [],
  previousHosts: [],
  ...extra,
});
const ask = (l: LabState, id: string, recipes: RecipeRequest[], priority = 50) =>
  enqueue(l, { requestId: id, requester: id, label: id, priority, recipes }, 0);

describe('scheduler rules', () => {
  it('grants all hosts of a request at once, or none', () => {
    const l = lab([
      ['h1', ['x']],
      ['h2', ['x']],
      ['h3', ['x']],
    ]);
    ask(l, 'busy', [recipe('x'), recipe('x')]);
    expect(allocate(l, 1)).toHaveLength(1);
    ask(l, 'pair', [recipe('x'), recipe('x')]);
    expect(allocate(l, 2)).toEqual([]);
    expect(explainWait(l, 'pair')).toMatch(/2 of 3 leased/);
  });

  it('serves priority first, then age', () => {
    const l = lab([['h1', ['x']]]);
    ask(l, 'old-low', [recipe('x')], 80);
    ask(l, 'new-high', [recipe('x')], 10);
    ask(l, 'newer-high', [recipe('x')], 10);
    expect(allocate(l, 1).map((g) => g.requestId)).toEqual(['new-high']);
    release(l, 'h1', l.hosts.h1!.lease!.token, [], 2);
    expect(allocate(l, 3).map((g) => g.requestId)).toEqual(['newer-high']);
  });

  it('reserves idle hosts for the head of the queue so a big request cannot starve', () => {
    const l = lab([
      ['h1', ['x']],
      ['h2', ['x']],
    ]);
    ask(l, 'small-1', [recipe('x')]);
    allocate(l, 1); // h1 leased
    ask(l, 'big', [recipe('x'), recipe('x')]);
    ask(l, 'small-2', [recipe('x')]);
    expect(allocate(l, 2)).toEqual([]); // h2 stays idle, held for `big`
    expect(l.reserved.h2).toBe('big');
    expect(explainWait(l, 'small-2')).toMatch(/held for an earlier request/);
    release(l, 'h1', l.hosts.h1!.lease!.token, [], 3);
    expect(allocate(l, 4).map((g) => g.requestId)).toEqual(['big']);
  });

  it('reserves for the head only as many idle hosts as it can use now, so a small request of another class is not blocked', () => {
    // h1 and h2 offer both qemu and arm; bm1 (the only bm host) is leased.
    const l = lab([
      ['h1', ['qemu', 'arm']],
      ['h2', ['qemu', 'arm']],
      ['bm1', ['bm']],
    ]);
    ask(l, 'bm-holder', [recipe('bm')]);
    allocate(l, 1);
    ask(l, 'head', [recipe('qemu'), recipe('bm')]);
    ask(l, 'small-arm', [recipe('arm')]);
    // `head` can have one qemu host now and waits for bm1: one host held back, the other serves `small-arm`.
    expect(allocate(l, 2).map((g) => [g.requestId, g.leases.map((x) => x.hostId)])).toEqual([['small-arm', ['h2']]]);
    expect(l.reserved).toEqual({ h1: 'head' });
    expect(explainWait(l, 'head')).toMatch(
      /^host bm1 \(the only host of class bm\) is leased to bm-holder; 1st in queue$/,
    );
  });

  it('still does not starve the head of the queue: small requests keep coming, and it gets its hosts when they are back', () => {
    const l = lab([
      ['h1', ['x']],
      ['h2', ['x']],
      ['h3', ['x']],
    ]);
    ask(l, 'small-0', [recipe('x')]);
    ask(l, 'small-1', [recipe('x')]);
    allocate(l, 1); // h1, h2 leased
    ask(l, 'big', [recipe('x'), recipe('x'), recipe('x')]);
    const token = (id: string) => l.hosts[id]!.lease!.token;
    let now = 2;
    for (let round = 2; round < 6; round++) {
      ask(l, `small-${round}`, [recipe('x')]);
      expect(allocate(l, now++)).toEqual([]); // h3 is held for `big`
      expect(l.reserved).toEqual({ h3: 'big' });
    }
    release(l, 'h1', token('h1'), [], now++);
    expect(allocate(l, now++)).toEqual([]); // h1 is held for `big` too, not given to a small one
    expect(Object.keys(l.reserved).sort()).toEqual(['h1', 'h3']);
    release(l, 'h2', token('h2'), [], now++);
    expect(allocate(l, now).map((g) => g.requestId)).toEqual(['big']);
  });

  it('denies at once what no host of the lab could ever take', () => {
    const l = lab([
      ['h1', ['x'], { arch: 'x86_64' }],
      ['h2', ['x'], { arch: 'x86_64' }],
    ]);
    expect(ask(l, 'r1', [recipe('y')])).toEqual({ queued: false, reason: 'no host of class y in the lab' });
    const arm = parseRequirement('arch == aarch64');
    if (!arm.ok) throw new Error(arm.error);
    expect(ask(l, 'r2', [recipe('x', { hostRequires: [arm.value] })])).toMatchObject({
      queued: false,
      reason: expect.stringMatching(/satisfies arch == aarch64/),
    });
    expect(ask(l, 'r3', [recipe('x', { excludedHosts: ['h1', 'h2'] })])).toEqual({
      queued: false,
      reason: 'no host of class x left after excluding h1, h2',
    });
    expect(ask(l, 'r4', [recipe('x'), recipe('x'), recipe('x')])).toMatchObject({
      queued: false,
      reason: expect.stringMatching(/needs 3 distinct hosts/),
    });
  });

  it('prefers a host the job has not run on, then the least used', () => {
    const l = lab([
      ['h1', ['x']],
      ['h2', ['x']],
      ['h3', ['x']],
    ]);
    l.hosts.h1!.leaseCount = 5;
    ask(l, 'retry', [recipe('x', { previousHosts: ['h2'] })]);
    expect(allocate(l, 1)[0]!.leases[0]!.hostId).toBe('h3');
  });

  it('finds a complete assignment where greedy picking would fail', () => {
    const l = lab([
      ['a', ['x', 'y']],
      ['b', ['x']],
    ]);
    ask(l, 'r', [recipe('x'), recipe('y')]);
    const [g] = allocate(l, 1);
    expect(g!.leases.map((x) => x.hostId)).toEqual(['b', 'a']);
  });

  it('says which host is in maintenance', () => {
    const l = lab([['h2', ['x']]]);
    setMaintenance(l, 'h2', true);
    ask(l, 'r', [recipe('x')]);
    expect(allocate(l, 1)).toEqual([]);
    expect(explainWait(l, 'r')).toBe('host h2 (the only host of class x) is in maintenance; 1st in queue');
  });

  it('marks a host broken after N consecutive aborts; a pass resets the count; a failure does not count', () => {
    const l = lab([['h1', ['x']]]);
    const lease = () => {
      ask(l, `r${Math.random()}`, [recipe('x')]);
      return allocate(l, 1)[0]!.leases[0]!.token;
    };
    const aborted = { kind: 'aborted' as const, cause: 'host-lost' as const, reason: 'lost' };
    release(l, 'h1', lease(), [{ jobId: 'j1', result: aborted }], 1);
    release(l, 'h1', lease(), [{ jobId: 'j2', result: { kind: 'passed' } }], 2);
    release(
      l,
      'h1',
      lease(),
      [
        { jobId: 'j3', result: aborted },
        { jobId: 'j4', result: { kind: 'failed', reason: 'test' } },
      ],
      3,
    );
    release(l, 'h1', lease(), [{ jobId: 'j5', result: aborted }], 4);
    expect(hostState(l.hosts.h1!)).toBe('idle');
    const r = release(l, 'h1', lease(), [{ jobId: 'j6', result: aborted }], 5);
    expect(r.broken).toMatch(/^3 consecutive aborts/);
    expect(hostState(l.hosts.h1!)).toBe('broken');
  });

  it("never counts a user's cancel towards a host's consecutive aborts, nor lets it reset them", () => {
    const l = newLab('salt', 2);
    registerHost(
      l,
      { hostId: 'h1', instanceId: 'i', workerClasses: ['x'], capabilities: {}, hostname: 'h1', address: '127.0.0.1' },
      0,
    );
    const lease = (n: number) => {
      ask(l, `r${n}`, [recipe('x')]);
      return allocate(l, n)[0]!.leases[0]!.token;
    };
    const cancelled = { kind: 'cancelled' as const, reason: 'cancelled by alice' };
    release(
      l,
      'h1',
      lease(1),
      [{ jobId: 'j1', result: { kind: 'aborted', cause: 'runner-crash', reason: 'SIGSEGV' } }],
      1,
    );
    for (let n = 2; n < 6; n++) release(l, 'h1', lease(n), [{ jobId: `j${n}`, result: cancelled }], n);
    expect(l.hosts.h1!.consecutiveAborts).toBe(1);
    expect(l.hosts.h1!.recentAborts.map((a) => a.jobId)).toEqual(['j1']);
    expect(hostState(l.hosts.h1!)).toBe('idle');
    // The count went on from 1: the next abort is the second in a row.
    expect(
      release(l, 'h1', lease(6), [{ jobId: 'j6', result: { kind: 'aborted', cause: 'host-lost', reason: 'lost' } }], 6)
        .broken,
    ).toMatch(/^2 consecutive aborts/);
  });

  it('marks a host broken at once on an unambiguous host fault', () => {
    const l = lab([['h1', ['x']]]);
    ask(l, 'r', [recipe('x')]);
    const token = allocate(l, 1)[0]!.leases[0]!.token;
    release(l, 'h1', token, [{ jobId: 'j', result: { kind: 'aborted', cause: 'provision', reason: 'disk full' } }], 2);
    expect(l.hosts.h1!.broken?.reason).toBe('provision: disk full');
  });

  it('ends the lease of a request withdrawn after it was granted (the grant crossed the withdrawal)', () => {
    const l = lab([
      ['h1', ['x']],
      ['h2', ['x']],
    ]);
    ask(l, 'pair', [recipe('x'), recipe('x')]);
    ask(l, 'waiting', [recipe('x')]);
    allocate(l, 1); // `pair` holds both hosts; its grant is on its way while it gives up waiting
    expect(withdrawRequest(l, 'pair', 2)).toEqual(['h1', 'h2']);
    expect([hostState(l.hosts.h1!), hostState(l.hosts.h2!)]).toEqual(['idle', 'idle']);
    expect(allocate(l, 3).map((g) => g.requestId)).toEqual(['waiting']);
    // Withdrawing a queued request only takes it off the queue.
    ask(l, 'queued', [recipe('x'), recipe('x')]);
    expect(withdrawRequest(l, 'queued', 4)).toEqual([]);
    expect(l.queue).toEqual([]);
    expect(hostState(l.hosts.h1!)).toBe('leased');
  });

  it('ignores a release with a stale token', () => {
    const l = lab([['h1', ['x']]]);
    ask(l, 'r', [recipe('x')]);
    allocate(l, 1);
    expect(release(l, 'h1', 'salt.999', [], 2).released).toBe(false);
    expect(hostState(l.hosts.h1!)).toBe('leased');
  });
});

describe("aborts a job's own runner caused", () => {
  const crash = { kind: 'aborted' as const, cause: 'runner-crash' as const, reason: 'runner was killed by SIGSEGV' };
  const timeout = { kind: 'aborted' as const, cause: 'run-timeout' as const, reason: 'took too long' };
  const setup = () => {
    const l = newLab('salt', 2);
    for (const id of ['h1', 'h2'])
      registerHost(
        l,
        { hostId: id, instanceId: 'i', workerClasses: ['x'], capabilities: {}, hostname: id, address: '127.0.0.1' },
        0,
      );
    let n = 0;
    const leaseOf = (hostId: string) => {
      ask(l, `r${++n}`, [{ ...recipe('x'), excludedHosts: hostId === 'h1' ? ['h2'] : ['h1'] }]);
      return allocate(l, n)[0]!.leases[0]!.token;
    };
    const run = (hostId: string, jobId: string, job: string, result: Parameters<typeof release>[3][number]['result']) =>
      release(l, hostId, leaseOf(hostId), [{ jobId, job, result }], n);
    return { l, run };
  };

  it('count against the host only once the same job passed on another host', () => {
    const { l, run } = setup();
    // Crashing, timing out: the job's doing until shown otherwise, whatever the count.
    for (let i = 1; i <= 3; i++) run('h1', `s${i}.1`, 'install', i % 2 ? crash : timeout);
    expect(l.hosts.h1!.consecutiveAborts).toBe(0);
    expect(hostState(l.hosts.h1!)).toBe('idle');
    expect(l.hosts.h1!.suspects!.map((s) => s.jobId)).toEqual(['s1.1', 's2.1', 's3.1']);
    // s1's clone passes on h2: the crash on h1 was h1's fault after all.
    const r = run('h2', 's1.2', 'install', { kind: 'passed' });
    expect(l.hosts.h1!.consecutiveAborts).toBe(1);
    expect(l.hosts.h1!.suspects!.map((s) => s.jobId)).toEqual(['s2.1', 's3.1']);
    expect(r.brokenElsewhere).toBeUndefined();
    // A job of another name that passes elsewhere says nothing of s2's.
    run('h2', 's2.2', 'desktop', { kind: 'passed' });
    expect(l.hosts.h1!.consecutiveAborts).toBe(1);
    const second = run('h2', 's2.3', 'install', { kind: 'passed' });
    expect(second.brokenElsewhere).toEqual([
      {
        hostId: 'h1',
        reason: expect.stringMatching(
          /^2 consecutive aborts; last: took too long \(job s2\.1, which then passed on h2\)$/,
        ),
      },
    ]);
    expect(hostState(l.hosts.h1!)).toBe('broken');
  });

  it('a submission costs a host at most one count in a row of aborts', () => {
    const { l, run } = setup();
    const lost = { kind: 'aborted' as const, cause: 'host-lost' as const, reason: 'lost' };
    run('h1', 's1.1', 'a', lost);
    run('h1', 's1.2', 'a', lost);
    run('h1', 's1.5', 'b', lost);
    expect(l.hosts.h1!.consecutiveAborts).toBe(1);
    expect(hostState(l.hosts.h1!)).toBe('idle');
    expect(run('h1', 's2.1', 'a', lost).broken).toMatch(/^2 consecutive aborts/);
  });
});
