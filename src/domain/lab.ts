/**
 * @module The lab as the scheduler sees it: hosts with their state, a queue of lease
 * requests, and the rules that grant leases (all-or-nothing per recipe set, priority then
 * age, the head of the queue reserves hosts so big requests do not starve, spread over
 * hosts and away from hosts a job already ran on), deny impossible requests at once,
 * explain why a request waits, and mark hosts broken. Pure: the scheduler workflow holds
 * one LabState and calls these functions; unit tests call them directly.
 */
import { submissionOfJob } from './ids.js';
import { hostFaultOf, type JobResult } from './outcome.js';
import { formatRequirement, satisfiesAll, type Capabilities, type Requirement } from './requirements.js';
import { untilText, type Reservation } from './reservation.js';

/** `reserved`: leased, and kept for a person (after a job, or lent by hand) until the reservation ends */
export type HostState = 'idle' | 'leased' | 'reserved' | 'maintenance' | 'broken' | 'offline';
export const HOST_STATES = [
  'idle',
  'leased',
  'reserved',
  'maintenance',
  'broken',
  'offline',
] as const satisfies readonly HostState[];

export interface HostRegistration {
  hostId: string;
  /** new for every start of the host process, so a late signal of an old process is told apart */
  instanceId: string;
  workerClasses: string[];
  capabilities: Capabilities;
  hostname: string;
  address: string;
  /** set when the host's own checks found its setup broken (runner missing, dir not writable) */
  setupProblem?: string;
  /** the host's config has a powerCommand (`testbay power HOST on|off|cycle`) */
  canPower?: boolean;
}

export type BrokenSource = 'setup' | 'fault' | 'aborts' | 'operator' | 'check';

export interface HostAbort {
  jobId: string;
  cause: string;
  reason: string;
  at: number;
}

/** A job's abort its own runner caused, on hold until the job passes elsewhere (then it was the host's). */
export interface SuspectAbort {
  /** `<submission>/<job name>`: every attempt of the job, clones included */
  key: string;
  jobId: string;
  reason: string;
  at: number;
}

export interface HostRecord {
  id: string;
  instanceId: string;
  workerClasses: string[];
  capabilities: Capabilities;
  hostname: string;
  address: string;
  online: boolean;
  maintenance: boolean;
  /** the host's config has a powerCommand */
  canPower?: boolean;
  broken?: { reason: string; source: BrokenSource; at: number };
  lease?: {
    token: string;
    requestId: string;
    requester: string;
    label: string;
    since: number;
    healthCheck?: boolean;
    reservation?: Reservation;
  };
  /** a health-check job is running or queued for this host */
  check?: { submissionId: string; why: string; since: number };
  offline?: { reason: string; since: number };
  consecutiveAborts: number;
  recentAborts: HostAbort[];
  /** aborts its jobs' own runners caused: they count once the same job passes on another host */
  suspects?: SuspectAbort[];
  /** submissions counted in the current run of consecutive aborts: one submission costs a host at most one */
  streak?: string[];
  leaseCount: number;
  /** when its last health check ended, and jobs (leases) since: for periodic checks */
  lastCheckAt?: number;
  jobsSinceCheck?: number;
  lastReleasedAt: number;
  registeredAt: number;
}

export interface RecipeRequest {
  workerClass: string;
  hostRequires: Requirement[];
  /** hosts this recipe must not run on (where an earlier attempt aborted) */
  excludedHosts: string[];
  /** hosts it ran on before: allowed, but others are preferred */
  previousHosts: string[];
  /** the one host it may run on (a job's `host:`, a loan) */
  hostId?: string;
}

export interface LeaseRequestInput {
  requestId: string;
  /** workflow id to signal the grant to */
  requester: string;
  /** for people: "sub-abc set 2 (install, test)" */
  label: string;
  priority: number;
  recipes: RecipeRequest[];
  /** a health check: only this host, which may be broken (it is what the check is for) */
  healthCheckOf?: string;
  /** deny rather than wait when every host that could serve it is broken, offline or in maintenance */
  failWhenUnusable?: boolean;
  /** a loan (`testbay reserve`): only this host, which may be broken or in maintenance (an operator's to repair) */
  loanOf?: string;
}

export interface LeaseRequest extends LeaseRequestInput {
  seq: number;
  enqueuedAt: number;
}

export interface Lease {
  hostId: string;
  token: string;
  /** where the leased host is reached (its registration's), for the holder's partners */
  address?: string;
  hostname?: string;
}

export interface Grant {
  requestId: string;
  requester: string;
  /** one lease per recipe, in recipe order */
  leases: Lease[];
}

export interface LabState {
  hosts: Record<string, HostRecord>;
  queue: LeaseRequest[];
  nextSeq: number;
  nextToken: number;
  /** random prefix of lease tokens, so a token cannot be guessed from a counter */
  tokenSalt: string;
  /** consecutive infrastructure aborts that make a host broken */
  brokenAfterAborts: number;
  /** idle hosts held back for the head of the queue (hostId → requestId), from the last allocation */
  reserved: Record<string, string>;
}

export function newLab(tokenSalt: string, brokenAfterAborts = 3): LabState {
  return { hosts: {}, queue: [], nextSeq: 1, nextToken: 1, tokenSalt, brokenAfterAborts, reserved: {} };
}

export function hostState(h: HostRecord): HostState {
  if (!h.online) return 'offline';
  if (h.lease?.reservation) return 'reserved';
  if (h.lease) return 'leased';
  if (h.maintenance) return 'maintenance';
  if (h.broken) return 'broken';
  return 'idle';
}

function isAvailable(h: HostRecord): boolean {
  return hostState(h) === 'idle';
}

export function registerHost(lab: LabState, reg: HostRegistration, now: number): HostRecord {
  const previous = lab.hosts[reg.hostId];
  const host: HostRecord = previous ?? {
    id: reg.hostId,
    instanceId: reg.instanceId,
    workerClasses: [],
    capabilities: {},
    hostname: reg.hostname,
    address: reg.address,
    online: true,
    maintenance: false,
    consecutiveAborts: 0,
    recentAborts: [],
    leaseCount: 0,
    lastReleasedAt: 0,
    registeredAt: now,
  };
  host.instanceId = reg.instanceId;
  host.workerClasses = [...reg.workerClasses];
  host.capabilities = { ...reg.capabilities };
  host.hostname = reg.hostname;
  host.address = reg.address;
  if (reg.canPower) host.canPower = true;
  else delete host.canPower;
  host.online = true;
  delete host.offline;
  if (reg.setupProblem !== undefined) {
    host.broken = { reason: `broken setup: ${reg.setupProblem}`, source: 'setup', at: now };
  } else if (host.broken?.source === 'setup') {
    delete host.broken;
  }
  lab.hosts[reg.hostId] = host;
  return host;
}

/** Marks a host offline, unless a newer process of the same host registered meanwhile. */
export function markOffline(lab: LabState, hostId: string, instanceId: string, reason: string, now: number): boolean {
  const host = lab.hosts[hostId];
  if (!host || host.instanceId !== instanceId || !host.online) return false;
  host.online = false;
  host.offline = { reason, since: now };
  return true;
}

export function removeHost(lab: LabState, hostId: string): boolean {
  if (!lab.hosts[hostId]) return false;
  delete lab.hosts[hostId];
  return true;
}

export function setMaintenance(lab: LabState, hostId: string, on: boolean): HostRecord | undefined {
  const host = lab.hosts[hostId];
  if (host) host.maintenance = on;
  return host;
}

export function clearBroken(lab: LabState, hostId: string): HostRecord | undefined {
  const host = lab.hosts[hostId];
  if (host) {
    delete host.broken;
    host.consecutiveAborts = 0;
  }
  return host;
}

export function markBroken(lab: LabState, hostId: string, reason: string, now: number): HostRecord | undefined {
  const host = lab.hosts[hostId];
  if (host) host.broken = { reason, source: 'operator', at: now };
  return host;
}

function canServe(h: HostRecord, r: RecipeRequest): boolean {
  return (
    (r.hostId === undefined || r.hostId === h.id) &&
    h.workerClasses.includes(r.workerClass) &&
    !r.excludedHosts.includes(h.id) &&
    satisfiesAll(h.capabilities, r.hostRequires)
  );
}

/**
 * Why this host can never take a recipe (a job pinned to it with `host:`), or undefined
 * when it can: the same rule the scheduler matches with, in words.
 */
export function whyHostCannotServe(
  h: Pick<HostRecord, 'id' | 'workerClasses' | 'capabilities'>,
  r: Pick<RecipeRequest, 'workerClass' | 'hostRequires'> & { excludedHosts?: string[] },
): string | undefined {
  if (!h.workerClasses.includes(r.workerClass))
    return `host ${h.id} does not offer class ${r.workerClass} (it offers ${h.workerClasses.join(', ') || 'none'})`;
  const unmet = r.hostRequires.filter((req) => !satisfiesAll(h.capabilities, [req]));
  if (unmet.length > 0) return `host ${h.id} does not satisfy ${unmet.map(formatRequirement).join(', ')}`;
  if (r.excludedHosts?.includes(h.id)) return `host ${h.id} is excluded (an earlier attempt aborted there)`;
  return undefined;
}

/** Hosts in preference order: not run on before, fewest leases so far, longest idle. */
function byPreference(r: RecipeRequest) {
  return (a: HostRecord, b: HostRecord) =>
    Number(r.previousHosts.includes(a.id)) - Number(r.previousHosts.includes(b.id)) ||
    a.leaseCount - b.leaseCount ||
    a.lastReleasedAt - b.lastReleasedAt ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** All-or-nothing: distinct hosts for every recipe (bipartite matching), or undefined. */
export function matchRecipes(
  recipes: readonly RecipeRequest[],
  hosts: readonly HostRecord[],
): HostRecord[] | undefined {
  const matched = matchMost(recipes, hosts);
  if (matched.size < recipes.length) return undefined;
  return recipes.map((_, r) => matched.get(r)!);
}

/**
 * Distinct hosts for as many recipes as possible (a maximum bipartite matching), each
 * recipe's hosts tried in its order of preference: recipe index → host.
 */
export function matchMost(recipes: readonly RecipeRequest[], hosts: readonly HostRecord[]): Map<number, HostRecord> {
  // One recipe (most requests): its most preferred host, which is what the matching below
  // picks first, found in one pass instead of sorting every candidate (a deep queue on a
  // large pool asks this for every request in one workflow task).
  if (recipes.length === 1) {
    const r = recipes[0]!;
    const prefer = byPreference(r);
    let best: HostRecord | undefined;
    for (const h of hosts) if (canServe(h, r) && (best === undefined || prefer(h, best) < 0)) best = h;
    return new Map<number, HostRecord>(best ? [[0, best]] : []);
  }
  const candidates = recipes.map((r) => hosts.filter((h) => canServe(h, r)).sort(byPreference(r)));
  const owner = new Map<string, number>();
  const assign = (recipe: number, seen: Set<string>): boolean => {
    for (const h of candidates[recipe]!) {
      if (seen.has(h.id)) continue;
      seen.add(h.id);
      const current = owner.get(h.id);
      if (current === undefined || assign(current, seen)) {
        owner.set(h.id, recipe);
        return true;
      }
    }
    return false;
  };
  for (let r = 0; r < recipes.length; r++) assign(r, new Set());
  const result = new Map<number, HostRecord>();
  for (const [hostId, recipe] of owner)
    result.set(
      recipe,
      hosts.find((h) => h.id === hostId)!,
    );
  return result;
}

function describeRecipe(r: RecipeRequest): string {
  const reqs = r.hostRequires.map(formatRequirement).join(', ');
  return `class ${r.workerClass}${reqs ? ` with ${reqs}` : ''}`;
}

/**
 * Why no host in the lab, in any state, could ever serve this request; undefined when
 * some could. Offline, broken and maintenance hosts count: they may come back.
 */
export function whyImpossible(lab: LabState, recipes: readonly RecipeRequest[]): string | undefined {
  const hosts = Object.values(lab.hosts);
  for (const r of recipes) {
    if (hosts.some((h) => canServe(h, r))) continue;
    if (r.hostId !== undefined) {
      const pinned = lab.hosts[r.hostId];
      return pinned ? whyHostCannotServe(pinned, r) : `host ${r.hostId} is not in the lab`;
    }
    const ofClass = hosts.filter((h) => h.workerClasses.includes(r.workerClass));
    if (ofClass.length === 0) return `no host of class ${r.workerClass} in the lab`;
    const matching = ofClass.filter((h) => satisfiesAll(h.capabilities, r.hostRequires));
    if (matching.length === 0) {
      return `no host of class ${r.workerClass} satisfies ${r.hostRequires.map(formatRequirement).join(', ')} (hosts of that class: ${ofClass.map((h) => h.id).join(', ')})`;
    }
    return `no host of ${describeRecipe(r)} left after excluding ${r.excludedHosts.join(', ')}`;
  }
  if (!matchRecipes(recipes, hosts)) {
    return `the recipe set needs ${recipes.length} distinct hosts (${recipes.map(describeRecipe).join('; ')}), more than the lab has`;
  }
  return undefined;
}

export type EnqueueResult = { queued: true } | { queued: false; reason: string };

export function enqueue(lab: LabState, input: LeaseRequestInput, now: number): EnqueueResult {
  if (lab.queue.some((r) => r.requestId === input.requestId)) return { queued: true };
  const only = input.healthCheckOf ?? input.loanOf;
  const reason =
    only !== undefined
      ? lab.hosts[only]
        ? undefined
        : `host ${only} is not in the lab`
      : whyImpossible(lab, input.recipes);
  if (reason !== undefined) return { queued: false, reason };
  lab.queue.push({ ...input, seq: lab.nextSeq++, enqueuedAt: now });
  return { queued: true };
}

export function cancelRequest(lab: LabState, requestId: string): boolean {
  const before = lab.queue.length;
  lab.queue = lab.queue.filter((r) => r.requestId !== requestId);
  return lab.queue.length !== before;
}

/**
 * The requester withdrew its request: off the queue, and any lease it was granted meanwhile
 * (the grant crossed the withdrawal) ends, since the requester will not use it. Returns the
 * hosts whose lease ended.
 */
export function withdrawRequest(lab: LabState, requestId: string, now: number): string[] {
  cancelRequest(lab, requestId);
  const released: string[] = [];
  for (const host of Object.values(lab.hosts)) {
    if (host.lease?.requestId === requestId && release(lab, host.id, host.lease.token, [], now).released)
      released.push(host.id);
  }
  return released;
}

/**
 * Requests that asked not to wait for hosts that are all out of service (batch runs:
 * fail fast rather than wait forever): taken off the queue, with the reason.
 */
export function dropUnusable(lab: LabState): { request: LeaseRequest; reason: string }[] {
  const dropped: { request: LeaseRequest; reason: string }[] = [];
  lab.queue = lab.queue.filter((request) => {
    if (!request.failWhenUnusable) return true;
    for (const recipe of request.recipes) {
      const candidates = Object.values(lab.hosts).filter((h) => canServe(h, recipe));
      if (candidates.some((h) => h.online && !h.maintenance && !h.broken)) continue;
      const states = candidates.map(
        (h) =>
          `${h.id} ${hostState(h)}${h.broken ? ` (${h.broken.reason})` : h.offline ? ` (${h.offline.reason})` : ''}`,
      );
      dropped.push({ request, reason: `no host of ${describeRecipe(recipe)} can take work: ${states.join('; ')}` });
      return false;
    }
    return true;
  });
  return dropped;
}

/** Requests that became impossible (a host was removed): taken off the queue, with the reason. */
export function dropImpossible(lab: LabState): { request: LeaseRequest; reason: string }[] {
  const dropped: { request: LeaseRequest; reason: string }[] = [];
  lab.queue = lab.queue.filter((request) => {
    const reason = whyImpossible(lab, request.recipes);
    if (reason === undefined) return true;
    dropped.push({ request, reason });
    return false;
  });
  return dropped;
}

function queueOrder(a: LeaseRequest, b: LeaseRequest): number {
  return a.priority - b.priority || a.seq - b.seq;
}

/**
 * Grants every request that can be served now, in priority-then-age order. The first
 * request that cannot be served but could once the leased hosts come back reserves as
 * many idle hosts as it can use now (one per recipe), so a stream of small requests
 * cannot starve it; idle hosts it does not need stay free for the others.
 */
export function allocate(lab: LabState, now: number): Grant[] {
  const grants: Grant[] = [];
  lab.queue.sort(queueOrder);
  lab.reserved = {};
  const granted = new Set<LeaseRequest>();
  // The idle hosts nobody took or holds back yet, in the lab's order; it only shrinks.
  let free = Object.values(lab.hosts).filter(isAvailable);
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
      return { hostId: host.id, token, address: host.address, hostname: host.hostname };
    });
    free = free.filter((h) => !hosts.includes(h));
    granted.add(request);
    return { requestId: request.requestId, requester: request.requester, leases };
  };
  // Health checks go first: each wants one particular host that nobody else may lease.
  for (const request of lab.queue.filter((r) => r.healthCheckOf !== undefined)) {
    const host = lab.hosts[request.healthCheckOf!];
    if (host && host.online && !host.lease && !host.maintenance) grants.push(lease(request, [host]));
  }
  // So do loans: a person asked for this one host by name (a broken one, to repair it).
  for (const request of lab.queue.filter((r) => r.loanOf !== undefined)) {
    const host = lab.hosts[request.loanOf!];
    if (host && host.online && !host.lease) grants.push(lease(request, [host]));
  }
  // A long queue is mostly requests alike (the same classes and requirements). Since the
  // free hosts only shrink, what did not fit once does not fit any later request alike:
  // remember it, and walk the queue once rather than match every request against every host.
  const unfit = new Set<string>();
  let usable: HostRecord[] | undefined;
  const usableFit = new Map<string, boolean>();
  let reserving = false;
  for (const request of lab.queue.filter((r) => r.healthCheckOf === undefined && r.loanOf === undefined)) {
    const alike = fitKey(request.recipes);
    const match = unfit.has(alike) ? undefined : matchRecipes(request.recipes, free);
    if (match) {
      grants.push(lease(request, match));
      continue;
    }
    unfit.add(alike);
    if (reserving) continue;
    usable ??= Object.values(lab.hosts).filter((h) => h.online && !h.maintenance && !h.broken);
    if (!usableFit.has(alike)) usableFit.set(alike, matchRecipes(request.recipes, usable) !== undefined);
    if (!usableFit.get(alike)) continue;
    reserving = true;
    // Hold back one idle host per recipe it can already have, no more: the recipes still
    // missing a host wait for leased ones, and the other idle hosts serve the queue meanwhile.
    const held = [...matchMost(request.recipes, free).values()];
    for (const h of held) lab.reserved[h.id] = request.requestId;
    free = free.filter((h) => !held.includes(h));
  }
  if (granted.size > 0) lab.queue = lab.queue.filter((r) => !granted.has(r));
  return grants;
}

/** What decides whether recipes fit a set of hosts: all but the preference for new hosts. */
function fitKey(recipes: readonly RecipeRequest[]): string {
  return JSON.stringify(recipes.map(({ previousHosts: _previous, ...fit }) => fit));
}

/**
 * A queued request's new priority; the previous one, or undefined when it is not queued
 * (granted meanwhile, withdrawn, or never there).
 */
export function setPriority(lab: LabState, requestId: string, priority: number): { previous: number } | undefined {
  const request = lab.queue.find((r) => r.requestId === requestId);
  if (!request) return undefined;
  const previous = request.priority;
  request.priority = priority;
  return { previous };
}

/**
 * Marks a lease as kept for a person (or no longer, with undefined): the host shows as
 * reserved and stays out of the pool until its holder releases the lease. False when the
 * token is not the host's current lease.
 */
export function markReserved(
  lab: LabState,
  hostId: string,
  token: string,
  reservation: Reservation | undefined,
): boolean {
  const lease = lab.hosts[hostId]?.lease;
  if (!lease || lease.token !== token) return false;
  if (reservation) lease.reservation = reservation;
  else delete lease.reservation;
  return true;
}

/** A job's result, as the release of its lease tells the scheduler (for the broken-host count and periodic checks). */
export interface ResultReport {
  jobId: string;
  result: JobResult;
  /**
   * the job's name, for jobs (not batches of a batch run, whose faults the run judged
   * already): with it, an abort by the job's own runner waits until the job passes elsewhere,
   * and the job's submission counts once in a row of aborts
   */
  job?: string;
}

/** What the host's recoverCommand did after an infrastructure abort, before the lease came back. */
export interface Recovery {
  ok: boolean;
  /** what it printed, or why it failed */
  summary: string;
}

export interface ReleaseResult {
  released: boolean;
  /** set when the outcomes made the host broken */
  broken?: string;
  /** other hosts the outcomes made broken (a job passed here that aborted there) */
  brokenElsewhere?: { hostId: string; reason: string }[];
}

/** Ends a lease and counts the jobs' outcomes towards the host's broken-host rule. */
export function release(
  lab: LabState,
  hostId: string,
  token: string,
  outcomes: readonly ResultReport[],
  now: number,
  recovery?: Recovery,
): ReleaseResult {
  const host = lab.hosts[hostId];
  if (!host?.lease || host.lease.token !== token) return { released: false };
  const wasCheck = host.lease.healthCheck === true;
  delete host.lease;
  host.lastReleasedAt = now;
  if (wasCheck) {
    host.lastCheckAt = now;
    host.jobsSinceCheck = 0;
    return finishCheck(host, outcomes, now);
  }
  host.jobsSinceCheck = (host.jobsSinceCheck ?? 0) + 1;
  const brokenBefore = new Set(
    Object.values(lab.hosts)
      .filter((h) => h.broken)
      .map((h) => h.id),
  );
  for (const o of outcomes) recordOutcome(lab, host, o, now);
  // A recovery that failed breaks the host at once, saying what the command said (Beaker's failed power command).
  if (recovery && !recovery.ok)
    host.broken ??= { reason: `recovery failed: ${recovery.summary}`, source: 'fault', at: now };
  const result: ReleaseResult = { released: true };
  if (host.broken && !brokenBefore.has(hostId)) result.broken = host.broken.reason;
  const elsewhere = Object.values(lab.hosts).filter((h) => h.id !== hostId && h.broken && !brokenBefore.has(h.id));
  if (elsewhere.length > 0) result.brokenElsewhere = elsewhere.map((h) => ({ hostId: h.id, reason: h.broken!.reason }));
  return result;
}

/** Marks a host as being checked: not leased to anyone but its health-check job. */
export function startCheck(
  lab: LabState,
  hostId: string,
  why: string,
  submissionId: string,
  now: number,
): HostRecord | undefined {
  const host = lab.hosts[hostId];
  if (!host) return undefined;
  host.check = { submissionId, why, since: now };
  host.broken = { reason: `health check ${submissionId} running (${why})`, source: 'check', at: now };
  return host;
}

/** A passed health check brings the host back; anything else keeps it broken, saying why. */
function finishCheck(host: HostRecord, outcomes: readonly ResultReport[], now: number): ReleaseResult {
  const submissionId = host.check?.submissionId ?? 'health check';
  delete host.check;
  const bad = outcomes.find((o) => o.result.kind !== 'passed');
  if (outcomes.length > 0 && !bad) {
    delete host.broken;
    host.consecutiveAborts = 0;
    return { released: true };
  }
  const why = bad
    ? `${bad.result.kind}${'reason' in bad.result && bad.result.reason ? `: ${bad.result.reason}` : ''}`
    : 'did not run';
  host.broken = { reason: `health check ${submissionId} ${why}`, source: 'check', at: now };
  return { released: true, broken: host.broken.reason };
}

/** Suspects kept per host (the oldest go first). */
const SUSPECTS_KEPT = 20;

/** Every attempt of a job, clones included, shares this key. */
const suspectKey = (o: ResultReport) => `${submissionOfJob(o.jobId)}/${o.job ?? ''}`;

/**
 * Applies one job outcome to a host's count of consecutive infrastructure aborts. An abort
 * the job's own runner caused waits (a suspect) until the job passes on another host;
 * a named job's submission counts at most once in a row of aborts.
 */
export function recordOutcome(lab: LabState, host: HostRecord, o: ResultReport, now: number): void {
  const r = o.result;
  if (r.kind === 'passed') {
    host.consecutiveAborts = 0;
    host.streak = [];
    if (o.job !== undefined) confirmSuspects(lab, host, suspectKey(o), now);
    return;
  }
  if (r.kind !== 'aborted') return;
  const fault = hostFaultOf(r);
  if (fault === 'none') return;
  host.recentAborts = [{ jobId: o.jobId, cause: r.cause, reason: r.reason, at: now }, ...host.recentAborts].slice(0, 5);
  if (fault === 'immediate') {
    host.broken ??= { reason: `${r.cause}: ${r.reason}`, source: 'fault', at: now };
    return;
  }
  if (fault === 'runner' && o.job !== undefined) {
    host.suspects = [...(host.suspects ?? []), { key: suspectKey(o), jobId: o.jobId, reason: r.reason, at: now }].slice(
      -SUSPECTS_KEPT,
    );
    return;
  }
  countAbort(lab, host, o.job !== undefined ? submissionOfJob(o.jobId) : undefined, r.reason, now);
}

/** The job passed on `passedOn`: where it aborted by its runner before, the host was at fault. */
function confirmSuspects(lab: LabState, passedOn: HostRecord, key: string, now: number): void {
  for (const other of Object.values(lab.hosts)) {
    if (other.id === passedOn.id || !other.suspects?.some((s) => s.key === key)) continue;
    const confirmed = other.suspects.filter((s) => s.key === key);
    other.suspects = other.suspects.filter((s) => s.key !== key);
    const last = confirmed.at(-1)!;
    countAbort(
      lab,
      other,
      key.slice(0, key.indexOf('/')),
      `${last.reason} (job ${last.jobId}, which then passed on ${passedOn.id})`,
      now,
    );
  }
}

function countAbort(
  lab: LabState,
  host: HostRecord,
  submissionId: string | undefined,
  reason: string,
  now: number,
): void {
  if (submissionId !== undefined) {
    if (host.streak?.includes(submissionId)) return;
    host.streak = [...(host.streak ?? []), submissionId].slice(-lab.brokenAfterAborts);
  }
  host.consecutiveAborts++;
  if (host.consecutiveAborts >= lab.brokenAfterAborts) {
    host.broken ??= {
      reason: `${host.consecutiveAborts} consecutive aborts; last: ${reason}`,
      source: 'aborts',
      at: now,
    };
  }
}

const ordinal = (n: number) => {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
};

/** Why a queued request is still waiting, in words a person can act on. */
export function explainWait(lab: LabState, requestId: string): string | undefined {
  const sorted = [...lab.queue].sort(queueOrder);
  const position = sorted.findIndex((r) => r.requestId === requestId);
  const request = sorted[position];
  if (!request) return undefined;
  const place = `${ordinal(position + 1)} in queue`;
  const hosts = Object.values(lab.hosts);
  const usable = (h: HostRecord) => isAvailable(h) && (!lab.reserved[h.id] || lab.reserved[h.id] === requestId);
  for (const recipe of request.recipes) {
    const candidates = hosts.filter((h) => canServe(h, recipe));
    if (candidates.some(usable)) continue;
    return `${describeCandidates(lab, recipe, candidates, requestId)}; ${place}`;
  }
  const candidates = hosts.filter((h) => request.recipes.some((r) => canServe(h, r)));
  const idle = candidates.filter(usable).length;
  const leased = candidates.filter((h) => hostState(h) === 'leased').length;
  return `needs ${request.recipes.length} hosts at once (${[...new Set(request.recipes.map(describeRecipe))].join('; ')}): ${idle} idle, ${leased} of ${candidates.length} leased; ${place}`;
}

function describeCandidates(
  lab: LabState,
  recipe: RecipeRequest,
  candidates: readonly HostRecord[],
  requestId: string,
): string {
  if (candidates.length === 1) {
    const h = candidates[0]!;
    return `host ${h.id} (the only host of ${describeRecipe(recipe)}) ${describeHost(lab, h, requestId)}`;
  }
  const groups = new Map<string, string[]>();
  for (const h of candidates) {
    const key = describeGroup(lab, h, requestId);
    groups.set(key, [...(groups.get(key) ?? []), h.id]);
  }
  const parts = [...groups].map(([key, ids]) =>
    key === 'leased'
      ? `${ids.length} of ${candidates.length} leased`
      : `${ids.length} ${key} (${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', …' : ''})`,
  );
  return `no idle host of ${describeRecipe(recipe)}: ${parts.join(', ')}`;
}

function describeGroup(lab: LabState, h: HostRecord, requestId: string): string {
  const state = hostState(h);
  if (state === 'idle')
    return lab.reserved[h.id] && lab.reserved[h.id] !== requestId ? 'held for an earlier request' : 'idle';
  if (state === 'maintenance') return 'in maintenance';
  return state;
}

function describeHost(lab: LabState, h: HostRecord, requestId: string): string {
  switch (hostState(h)) {
    case 'offline':
      return `is offline${h.offline ? ` (${h.offline.reason})` : ''}`;
    case 'maintenance':
      return 'is in maintenance';
    case 'broken':
      return `is broken (${h.broken?.reason ?? 'unknown reason'})`;
    case 'leased':
      return `is leased to ${h.lease?.label ?? 'another job'}`;
    case 'reserved':
      return `is reserved by ${h.lease?.reservation?.by ?? 'someone'} until ${untilText(h.lease?.reservation?.until ?? 0)} (${h.lease?.reservation?.why ?? 'a reservation'})`;
    case 'idle':
      return lab.reserved[h.id] && lab.reserved[h.id] !== requestId ? 'is held for an earlier request' : 'is idle';
  }
}
