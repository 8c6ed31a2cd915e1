/**
 * @module The batch run as state and events, the scheduler's shape (domain/lab.ts): every
 * decision of batchRunWorkflow, pure and with time passed in. `apply(state, event, now)`
 * takes what happened (a lease granted or denied, a batch's end with its results, late
 * results, a cancel, a tick of the shard's pass, a host ready for more) and returns the
 * commands to carry out (ask for a lease, withdraw requests, run a batch, finish its job,
 * release a host, store verdicts, wait). The workflow only turns signals and activity
 * results into events and carries out the commands, in the order given. The ledger
 * (batch-ledger.ts) keeps the tests; batch-run.ts holds the rules this module combines.
 */
import {
  countsForBreaker,
  endBatch,
  isDone,
  newLedger,
  recordLate,
  recordTest,
  settleWaiting,
  strandedOn,
  takeBatch,
  takeBlame,
  takeVerdicts,
  waitingCount,
  type BatchEnd,
  type BatchPolicy,
  type LateReport,
  type Ledger,
  type TestReport,
  type VerdictRecord,
} from './batch-ledger.js';
import {
  absorbShard,
  batchResult,
  denialMeaning,
  hasVerdictsToStore,
  hostStep,
  leasesWanted,
  type BatchEntry,
  type BatchRunCarry,
  type HostSlot,
} from './batch-run.js';
import type { LateResults } from './batch-work.js';
import { batchId as batchIdOf } from './ids.js';
import type { ResultReport } from './lab.js';
import { needsRecovery, type JobResult } from './outcome.js';
import type { PlanBatchRun } from './plan.js';
import type { BatchRunView } from './views.js';

/** Settled verdicts go to the result store at most this often (one write per period, whatever the count). */
export const VERDICT_FLUSH_MS = 2_000;

/** What the decisions need to know of the run. */
export interface BatchRunRules extends BatchPolicy, Pick<PlanBatchRun, 'maxHosts'> {
  runJobId: string;
  /** lease request ids start with it (the workflow's id and run) */
  requestPrefix: string;
  /** a host's own lost batches in a row that trip its breaker */
  breakerAborts: number;
}

/** A batch out on a host, as the view shows it. */
export interface RunningBatch {
  batchId: string;
  hostId: string;
  tests: number;
}

export interface BatchRunState {
  rules: BatchRunRules;
  carry: BatchRunCarry;
  phase: BatchRunView['state'];
  /** the shard being worked on */
  ledger?: Ledger;
  /** a person's cancel */
  stop?: string;
  /** changes on anything a waiting host or the shard's pass may care about */
  version: number;
  /** lease requests not answered yet; each excludes the hosts the run held when it was made */
  pending: { requestId: string; excluded: string[] }[];
  grants: { requestId: string; hostId: string; token: string; overflow: boolean }[];
  /** the hosts the run holds, in the order they came */
  slots: HostSlot[];
  /** hosts taking batches or handing their lease back: the shard ends only when none is left */
  workers: number;
  /** the run's hosts the lab has no alternative to (a request excluding them was denied); reset when the run's hosts change */
  lonely?: string[];
  /** why no host at all could be leased */
  denied?: string;
  leaseSeq: number;
  running: RunningBatch[];
  /** every batch of the shard, for the blame its ledger learns later */
  entries: Record<string, BatchEntry>;
  /** when verdicts last went to the store */
  storedAt: number;
  /** where the shard's current pass is */
  pass?:
    | { step: 'look' }
    | { step: 'leases'; remaining: number; previousHosts: string[]; strandedChecked: boolean }
    | { step: 'stored' }
    | { step: 'slept' };
}

export type BatchEvent =
  | { kind: 'granted'; requestId: string; hostId: string; token: string }
  | { kind: 'denied'; requestId: string; reason: string }
  | { kind: 'cancel'; reason: string }
  | { kind: 'late-results'; late: LateResults }
  | { kind: 'shard-loaded'; tests: readonly string[] }
  /** the shard's pass begins: news arrived, or its wait ran out */
  | { kind: 'tick' }
  /** the commands of the shard's pass so far are carried out */
  | { kind: 'carried-out' }
  | { kind: 'host-started'; hostId: string; token: string; overflow: boolean }
  | { kind: 'host-ready'; hostId: string }
  | {
      kind: 'batch-ended';
      hostId: string;
      batchId: string;
      results: readonly TestReport[];
      end: BatchEnd;
      hostShuttingDown?: boolean;
    }
  | { kind: 'host-leaving'; hostId: string }
  | { kind: 'host-released'; hostId: string }
  | { kind: 'shard-ended' }
  /** the sealed shard's verdicts are stored */
  | { kind: 'shard-stored' };

export type BatchCommand =
  | { kind: 'request-lease'; requestId: string; excluded: string[]; previousHosts: string[] }
  | { kind: 'withdraw'; requestIds: string[] }
  /** `handBack`: a grant the run no longer wanted, released without waiting for it */
  | { kind: 'release'; hostId: string; token: string; outcomes: ResultReport[]; handBack?: boolean }
  | { kind: 'start-host'; hostId: string; token: string; overflow: boolean }
  | { kind: 'run-batch'; hostId: string; token: string; batchId: string; batchNumber: number; tests: string[] }
  /** after an infrastructure abort, the host runs its recoverCommand before its next batch (as a chain's host does before its next job) */
  | { kind: 'recover-host'; hostId: string; batchId: string; cause: string; reason: string }
  | { kind: 'finish-job'; jobId: string; token: string; result: JobResult }
  /** the host takes no more batches */
  | { kind: 'leave'; hostId: string }
  /** a host keeps its lease and waits for news, at most this long */
  | { kind: 'host-wait'; hostId: string; timeoutMs: number }
  | { kind: 'store-verdicts'; offset: number; verdicts: VerdictRecord[] }
  | { kind: 'record-late-report'; report: LateReport }
  | { kind: 'cancel-batches' }
  /** the shard's pass waits for news, or (verdicts to store) at most this long */
  | { kind: 'sleep'; timeoutMs?: number }
  | { kind: 'shard-done' }
  | { kind: 'continue-as-new' }
  | { kind: 'log'; level: 'info' | 'warn'; message: string; fields: Record<string, unknown> };

export function newRunState(rules: BatchRunRules, carry: BatchRunCarry, listing: boolean, now: number): BatchRunState {
  const s: BatchRunState = {
    rules,
    carry,
    phase: listing ? 'listing' : 'running',
    version: 0,
    pending: [],
    grants: [],
    slots: [],
    workers: 0,
    leaseSeq: 0,
    running: [],
    entries: {},
    storedAt: now,
  };
  if (carry.cancelled !== undefined) s.stop = carry.cancelled;
  return s;
}

const bump = (s: BatchRunState) => void s.version++;
const activeHosts = (s: BatchRunState) => s.slots.map((h) => h.hostId);

/** A new lease request, excluding the hosts the run holds: a denial then means "no other host". */
export function openRequest(s: BatchRunState, previousHosts: string[]): BatchCommand & { kind: 'request-lease' } {
  const requestId = `${s.rules.requestPrefix}/${++s.leaseSeq}`;
  const excluded = activeHosts(s);
  s.pending.push({ requestId, excluded });
  return { kind: 'request-lease', requestId, excluded, previousHosts };
}

/** Forgets the requests not answered yet: the workflow withdraws them. */
export function withdrawAll(s: BatchRunState): BatchCommand & { kind: 'withdraw' } {
  const requestIds = s.pending.map((p) => p.requestId);
  s.pending = [];
  return { kind: 'withdraw', requestIds };
}

export function apply(s: BatchRunState, e: BatchEvent, now: number): BatchCommand[] {
  switch (e.kind) {
    case 'granted':
      return granted(s, e);
    case 'denied': {
      const request = s.pending.find((p) => p.requestId === e.requestId);
      if (!request) return [];
      s.pending = s.pending.filter((p) => p !== request);
      const meaning = denialMeaning(request.excluded, new Set(activeHosts(s)));
      if (meaning.kind === 'no-host') s.denied = e.reason;
      else if (meaning.kind === 'lonely') s.lonely = [...meaning.hosts];
      bump(s);
      return [];
    }
    case 'cancel':
      s.stop ??= e.reason;
      bump(s);
      return [{ kind: 'cancel-batches' }];
    case 'late-results':
      return lateResults(s, e.late, now);
    case 'shard-loaded': {
      const c = s.carry;
      s.ledger = newLedger(e.tests, s.rules, {
        tests: c.total,
        requeues: c.requeues ?? 0,
        ...(c.budgetSpent !== undefined ? { budgetSpent: c.budgetSpent } : {}),
      });
      delete s.denied;
      delete s.lonely;
      s.storedAt = now;
      return [];
    }
    case 'tick':
      return tick(s);
    case 'carried-out':
      return carriedOut(s, now);
    case 'host-started': {
      const slot: HostSlot = { hostId: e.hostId, token: e.token, overflow: e.overflow, entries: [] };
      s.slots.push(slot);
      delete s.lonely;
      if (!s.carry.hosts.includes(e.hostId)) s.carry.hosts.push(e.hostId);
      return hostReady(s, slot, now);
    }
    case 'host-ready': {
      const slot = s.slots.find((h) => h.hostId === e.hostId);
      return slot ? hostReady(s, slot, now) : [{ kind: 'leave', hostId: e.hostId }];
    }
    case 'batch-ended':
      return batchEnded(s, e, now);
    case 'host-leaving': {
      const slot = s.slots.find((h) => h.hostId === e.hostId);
      s.slots = s.slots.filter((h) => h !== slot);
      delete s.lonely;
      if (!slot) return [];
      // What the scheduler's breaker counts: batches the host lost by its own fault, and the
      // passed ones that reset it. A batch lost to a test (an isolated suspect) is not the host's.
      const outcomes = slot.entries.filter(countsForBreaker).map((b) => ({ jobId: b.jobId, result: b.result }));
      return [{ kind: 'release', hostId: slot.hostId, token: slot.token, outcomes }];
    }
    case 'host-released':
      s.workers--;
      bump(s);
      return [];
    case 'shard-ended':
      return shardEnded(s);
    case 'shard-stored':
      // One shard per run of this workflow: its history stays bounded however many tests.
      return s.carry.offset < s.carry.total && s.stop === undefined ? [{ kind: 'continue-as-new' }] : [];
  }
}

function granted(s: BatchRunState, g: { requestId: string; hostId: string; token: string }): BatchCommand[] {
  const wanted = s.pending.some((p) => p.requestId === g.requestId);
  s.pending = s.pending.filter((p) => p.requestId !== g.requestId);
  // Not wanted any more (withdrawn, or the run was cancelled): handed straight back.
  if (!wanted || s.stop !== undefined)
    return [{ kind: 'release', hostId: g.hostId, token: g.token, outcomes: [], handBack: true }];
  s.grants.push({ ...g, overflow: s.slots.length >= s.rules.maxHosts });
  bump(s);
  return [];
}

/** A batch the run gave up reports after all: history for its tests, never a verdict. */
function lateResults(s: BatchRunState, late: LateResults, now: number): BatchCommand[] {
  const results = late.results.slice(0, s.rules.batchSize);
  const l = s.ledger;
  const { batchId, hostId } = late;
  if (l && results.some((r) => l.tests[r.test]?.attempts.some((a) => a.batchId === batchId))) {
    const recorded = recordLate(l, batchId, hostId, results, now);
    bump(s);
    return [
      {
        kind: 'log',
        level: 'info',
        message: 'late results of a fenced batch kept as history',
        fields: { batchId, hostId, recorded },
      },
    ];
  }
  // Its shard's verdicts are stored already: the report goes beside them (the store checks
  // that batch ran those tests on that host, as the stored history says).
  return [
    { kind: 'record-late-report', report: { batchId, hostId, at: now, results } },
    {
      kind: 'log',
      level: 'info',
      message: 'late results of a fenced batch from a stored shard kept beside its verdicts',
      fields: { batchId, hostId },
    },
  ];
}

/** Takes what the ledger learnt about earlier lost batches: whose fault they were. */
function applyBlame(s: BatchRunState, l: Ledger): void {
  for (const b of takeBlame(l)) {
    const entry = s.entries[b.batchId];
    if (entry && entry.fault === 'pending') {
      entry.fault = b.fault;
      bump(s);
    }
  }
}

/** The shard's pass begins: a cancel settles what waits, and granted hosts start taking batches. */
function tick(s: BatchRunState): BatchCommand[] {
  const l = s.ledger!;
  if (s.stop !== undefined) settleWaiting(l, 'cancelled', s.stop);
  s.pass = { step: 'look' };
  const started: BatchCommand[] = s.grants
    .splice(0)
    .map((g) => ({ kind: 'start-host', hostId: g.hostId, token: g.token, overflow: g.overflow }));
  s.workers += started.length;
  return started;
}

/** The rest of the pass, one awaited command at a time: end the shard, ask for leases or withdraw them, store verdicts, wait. */
function carriedOut(s: BatchRunState, now: number): BatchCommand[] {
  const l = s.ledger!;
  const pass = s.pass;
  if (pass?.step === 'look') {
    if (s.denied !== undefined && s.slots.length === 0 && s.pending.length === 0)
      settleWaiting(l, 'lost', `no host can take batches: ${s.denied}`);
    applyBlame(s, l);
    if (isDone(l) && s.workers === 0) {
      delete s.pass;
      return [{ kind: 'shard-done' }];
    }
    if (s.stop !== undefined || s.denied !== undefined || waitingCount(l) === 0) {
      if (s.pending.length > 0) {
        s.pass = { step: 'leases', remaining: 0, previousHosts: [], strandedChecked: true };
        return [withdrawAll(s)];
      }
    } else if (s.lonely === undefined) {
      const wanted = leasesWanted(l, s.rules, s.slots.length, s.pending.length);
      s.pass = { step: 'leases', remaining: wanted.count, previousHosts: wanted.previousHosts, strandedChecked: false };
      return carriedOut(s, now);
    }
  } else if (pass?.step === 'leases') {
    if (pass.remaining > 0) {
      pass.remaining--;
      return [openRequest(s, pass.previousHosts)];
    }
    if (!pass.strandedChecked) {
      pass.strandedChecked = true;
      // Tests lost on every host the run has need one more, even past maxHosts (an idle host then leaves).
      if (s.pending.length === 0 && strandedOn(l, activeHosts(s)) > 0) return [openRequest(s, pass.previousHosts)];
    }
  } else {
    if (pass?.step === 'stored') s.storedAt = now;
    delete s.pass;
    return [];
  }
  // Settled verdicts go to the store as they come, in one write per period.
  const sinceStored = now - s.storedAt;
  if (sinceStored >= VERDICT_FLUSH_MS && hasVerdictsToStore(l)) {
    s.pass = { step: 'stored' };
    return [storeVerdicts(s, l, false)];
  }
  s.pass = { step: 'slept' };
  return [
    { kind: 'sleep', ...(hasVerdictsToStore(l) ? { timeoutMs: Math.max(1, VERDICT_FLUSH_MS - sinceStored) } : {}) },
  ];
}

/** The verdicts settled since the last write (all of them at the shard's end), as one more part. */
function storeVerdicts(s: BatchRunState, l: Ledger, all: boolean): BatchCommand & { kind: 'store-verdicts' } {
  const verdicts = takeVerdicts(l, all);
  const offset = s.carry.verdictsStored ?? 0;
  if (verdicts.length > 0) s.carry.verdictsStored = offset + verdicts.length;
  return { kind: 'store-verdicts', offset, verdicts };
}

/** What a leased host does next: take a batch, wait for news, or leave. */
function hostReady(s: BatchRunState, slot: HostSlot, now: number): BatchCommand[] {
  const { hostId, token } = slot;
  const leave: BatchCommand = { kind: 'leave', hostId };
  const l = s.ledger;
  if (s.stop !== undefined || !l) return [leave];
  const lonely = s.lonely ? new Set(s.lonely) : undefined;
  const step = hostStep(
    l,
    slot,
    { maxHosts: s.rules.maxHosts, activeHosts: activeHosts(s), lonely, breakerAborts: s.rules.breakerAborts },
    now,
  );
  if (step.kind === 'leave') {
    if (step.breaker === undefined) return [leave];
    return [
      {
        kind: 'log',
        level: 'warn',
        message: 'host lost too many batches in a row by its own fault; handing it back',
        fields: { hostId, faults: step.breaker },
      },
      leave,
    ];
  }
  if (step.kind === 'wait') {
    slot.idleSince ??= now;
    return [{ kind: 'host-wait', hostId, timeoutMs: Math.max(1, step.untilMs - now) }];
  }
  delete slot.idleSince;
  const batchNumber = s.carry.nextBatch;
  const batchId = batchIdOf(s.rules.runJobId, batchNumber);
  const batch = takeBatch(l, hostId, batchId, step.placement, now);
  if (!batch) return [leave];
  s.carry.nextBatch++;
  bump(s);
  s.carry.batches++;
  s.running.push({ batchId, hostId, tests: batch.tests.length });
  return [{ kind: 'run-batch', hostId, token, batchId, batchNumber, tests: batch.tests }];
}

/** A batch is back: its results and how it ended go to the ledger, its job is finished, and a host that is gone leaves. */
function batchEnded(s: BatchRunState, e: BatchEvent & { kind: 'batch-ended' }, now: number): BatchCommand[] {
  const l = s.ledger!;
  const { hostId, batchId, end } = e;
  for (const r of e.results) recordTest(l, batchId, hostId, r, now);
  const ended = endBatch(l, batchId, end, now);
  const out = s.running.find((r) => r.batchId === batchId);
  s.running = s.running.filter((r) => r !== out);
  const result = batchResult(end, e.results, out?.tests ?? e.results.length);
  const entry: BatchEntry = { jobId: batchId, result, fault: ended.fault };
  const slot = s.slots.find((h) => h.hostId === hostId);
  slot?.entries.push(entry);
  s.entries[batchId] = entry;
  applyBlame(s, l);
  const commands: BatchCommand[] = [{ kind: 'finish-job', jobId: batchId, token: slot?.token ?? '', result }];
  if (result.kind === 'aborted') s.carry.lostBatches++;
  bump(s);
  // A host that is gone, never started the batch, or is shutting down gets no more batches.
  if (end.kind === 'host-lost' || end.kind === 'not-started' || end.kind === 'host-shutdown' || e.hostShuttingDown)
    commands.push({ kind: 'leave', hostId });
  else if (result.kind === 'aborted' && needsRecovery(result))
    commands.push({ kind: 'recover-host', hostId, batchId, cause: result.cause, reason: result.reason });
  return commands;
}

/** The shard is sealed: its totals go into the carry, and its verdicts to the store. */
function shardEnded(s: BatchRunState): BatchCommand[] {
  const sealed = s.ledger!;
  // Sealed: late results from now on go beside the stored verdicts, not into this ledger.
  delete s.ledger;
  s.entries = {};
  absorbShard(s.carry, sealed, s.denied);
  const store = storeVerdicts(s, sealed, true);
  return store.verdicts.length > 0 ? [store] : [];
}

/** A cancelled run's shards that never started: their tests are cancelled, without loading them. */
export function cancelUnstarted(s: BatchRunState): void {
  const c = s.carry;
  if (s.stop === undefined || c.offset >= c.total) return;
  c.counts.cancelled += c.total - c.offset;
  c.offset = c.total;
}

/** The run is over: its view says done, and a cancel stays in the carry. */
export function endRun(s: BatchRunState): void {
  s.phase = 'done';
  if (s.stop !== undefined) s.carry.cancelled = s.stop;
}
