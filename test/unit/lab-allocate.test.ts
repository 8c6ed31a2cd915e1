/**
 * allocate() walks a long queue once (it remembers what did not fit): checked against the
 * plain rule it replaced, which matched every queued request against every idle host, on
 * random labs and queues. Both must grant, hold back and leave queued exactly the same.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allocate,
  enqueue,
  hostState,
  markBroken,
  markOffline,
  matchMost,
  matchRecipes,
  newLab,
  registerHost,
  setMaintenance,
  type Grant,
  type HostRecord,
  type LabState,
  type LeaseRequest,
  type RecipeRequest,
} from '../../src/domain/lab.js';
import { parseRequirement, satisfiesAll } from '../../src/domain/requirements.js';

/** A recipe's host as the matching always chose it: every candidate sorted by preference, the first. */
function firstBySorting(r: RecipeRequest, hosts: readonly HostRecord[]): HostRecord | undefined {
  return hosts
    .filter(
      (h) =>
        (r.hostId === undefined || r.hostId === h.id) &&
        h.workerClasses.includes(r.workerClass) &&
        !r.excludedHosts.includes(h.id) &&
        satisfiesAll(h.capabilities, r.hostRequires),
    )
    .sort(
      (a, b) =>
        Number(r.previousHosts.includes(a.id)) - Number(r.previousHosts.includes(b.id)) ||
        a.leaseCount - b.leaseCount ||
        a.lastReleasedAt - b.lastReleasedAt ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    )[0];
}

/** The rule as it was: every request against every free host. */
function allocatePlain(lab: LabState, now: number): Grant[] {
  const grants: Grant[] = [];
  lab.queue.sort((a, b) => a.priority - b.priority || a.seq - b.seq);
  lab.reserved = {};
  const taken = new Set<string>();
  const isAvailable = (h: HostRecord) => hostState(h) === 'idle';
  const lease = (request: LeaseRequest, hosts: HostRecord[]): Grant => {
    const leases = hosts.map((host) => {
      const token = `${lab.tokenSalt}.${lab.nextToken++}`;
      host.lease = {
        token,
        requestId: request.requestId,
        requester: request.requester,
        label: request.label,
        since: now,
      };
      if (request.healthCheckOf !== undefined) host.lease.healthCheck = true;
      host.leaseCount++;
      taken.add(host.id);
      return { hostId: host.id, token, address: host.address, hostname: host.hostname };
    });
    lab.queue = lab.queue.filter((r) => r !== request);
    return { requestId: request.requestId, requester: request.requester, leases };
  };
  let reserving = false;
  for (const request of lab.queue.filter((r) => r.healthCheckOf === undefined)) {
    const free = Object.values(lab.hosts).filter((h) => isAvailable(h) && !taken.has(h.id) && !lab.reserved[h.id]);
    const match = matchRecipes(request.recipes, free);
    if (match) {
      grants.push(lease(request, match));
      continue;
    }
    if (reserving) continue;
    const usable = Object.values(lab.hosts).filter((h) => h.online && !h.maintenance && !h.broken);
    if (!matchRecipes(request.recipes, usable)) continue;
    reserving = true;
    for (const h of matchMost(request.recipes, free).values()) lab.reserved[h.id] = request.requestId;
  }
  return grants;
}

const hostArb = fc.record({
  classes: fc.subarray(['x', 'y', 'z'], { minLength: 1 }),
  ram: fc.constantFrom('1', '2', '4'),
  state: fc.constantFrom('idle', 'idle', 'idle', 'maintenance', 'broken', 'offline'),
  leaseCount: fc.nat(3),
});
const recipeArb = (hosts: number) =>
  fc.record({
    workerClass: fc.constantFrom('x', 'y', 'z'),
    requires: fc.constantFrom([], [], ['ram >= 2'], ['ram == 4']),
    excluded: fc.subarray(
      Array.from({ length: hosts }, (_, i) => `h${i}`),
      { maxLength: Math.min(2, hosts) },
    ),
    previous: fc.subarray(
      Array.from({ length: hosts }, (_, i) => `h${i}`),
      { maxLength: Math.min(2, hosts) },
    ),
  });
const labArb = fc.integer({ min: 1, max: 12 }).chain((n) =>
  fc.record({
    hosts: fc.array(hostArb, { minLength: n, maxLength: n }),
    // requests leased before this allocation, then the queue it allocates
    before: fc.array(fc.array(recipeArb(n), { minLength: 1, maxLength: 2 }), { maxLength: 4 }),
    queue: fc.array(
      fc.record({
        recipes: fc.array(recipeArb(n), { minLength: 1, maxLength: 3 }),
        priority: fc.constantFrom(10, 50, 90),
      }),
      { maxLength: 20 },
    ),
  }),
);

type Scenario = typeof labArb extends fc.Arbitrary<infer T> ? T : never;

function requirement(text: string) {
  const parsed = parseRequirement(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

function build(s: Scenario): LabState {
  const lab = newLab('salt');
  s.hosts.forEach((h, i) => {
    const host = registerHost(
      lab,
      {
        hostId: `h${i}`,
        instanceId: `i${i}`,
        workerClasses: h.classes,
        capabilities: { ram: h.ram },
        hostname: `h${i}`,
        address: '127.0.0.1',
      },
      0,
    );
    host.leaseCount = h.leaseCount;
    host.lastReleasedAt = i % 3;
  });
  const toRecipe = (r: Scenario['queue'][number]['recipes'][number]): RecipeRequest => ({
    workerClass: r.workerClass,
    hostRequires: r.requires.map(requirement),
    excludedHosts: r.excluded,
    previousHosts: r.previous,
  });
  s.before.forEach((recipes, k) =>
    enqueue(
      lab,
      { requestId: `b${k}`, requester: `b${k}`, label: `b${k}`, priority: 50, recipes: recipes.map(toRecipe) },
      0,
    ),
  );
  allocatePlain(lab, 1);
  lab.queue = [];
  s.hosts.forEach((h, i) => {
    if (h.state === 'maintenance') setMaintenance(lab, `h${i}`, true);
    if (h.state === 'broken') markBroken(lab, `h${i}`, 'test', 1);
    if (h.state === 'offline') markOffline(lab, `h${i}`, `i${i}`, 'test', 1);
  });
  s.queue.forEach((q, k) =>
    enqueue(
      lab,
      {
        requestId: `q${k}`,
        requester: `q${k}`,
        label: `q${k}`,
        priority: q.priority,
        recipes: q.recipes.map(toRecipe),
      },
      2,
    ),
  );
  return lab;
}

describe('allocate walks the queue once', () => {
  it('grants, holds back and keeps queued exactly what matching every request against every host did', () => {
    fc.assert(
      fc.property(labArb, (s) => {
        const plain = build(s);
        const once = build(s);
        expect(allocate(once, 3)).toEqual(allocatePlain(plain, 3));
        expect(once.queue).toEqual(plain.queue);
        expect(once.reserved).toEqual(plain.reserved);
        expect(once.hosts).toEqual(plain.hosts);
      }),
      { numRuns: 500 },
    );
  });

  it('matches one recipe to the host the full matching would pick, without sorting the candidates', () => {
    fc.assert(
      fc.property(labArb, (s) => {
        const lab = build(s);
        const hosts = Object.values(lab.hosts);
        for (const request of lab.queue) {
          for (const recipe of request.recipes)
            expect(matchMost([recipe], hosts).get(0)).toBe(firstBySorting(recipe, hosts));
        }
      }),
      { numRuns: 500 },
    );
  });
});
