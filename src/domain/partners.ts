/**
 * @module Partners: the jobs of one recipe set, which start together on different hosts and
 * find each other. What a runner learns of its partners (`TESTBAY_PARTNERS`), the names of
 * barriers and message keys, and the state the recipe set's workflow keeps of barriers and
 * messages, with the rules that answer a barrier or a receive. Pure: the workflow holds the
 * state and asks these functions; the API and the CLI validate names with the same schemas.
 *
 * A barrier counts recipes (one host's chain), not jobs: the jobs of one chain run one after
 * another, so a barrier across all of them could never be reached. A barrier is reached once
 * some job of every recipe arrived at it; it cannot be reached any more once a recipe that
 * did not arrive has ended (its chain is over).
 */
import { z } from 'zod';
import { NAME_PATTERN } from './spec.js';

/** What TESTBAY_PARTNERS says of each job of the set (the runner's own included). */
export interface Partner {
  jobId: string;
  hostId: string;
  address: string;
  hostname: string;
  role: string;
}

const nameMessage =
  'must start with a letter or digit and use only letters, digits, ".", "_" and "-" (at most 100 characters, no spaces)';
export const barrierName = z.string().regex(NAME_PATTERN, nameMessage);
export const messageKey = z.string().regex(NAME_PATTERN, nameMessage);
/** A message's value: text, kept in the recipe set's workflow history, so small. */
export const MAX_MESSAGE_BYTES = 16 * 1024;
/** Messages one recipe set keeps at most (each send of a new key is one). */
export const MAX_MESSAGES = 500;
/** Barriers one recipe set keeps at most. */
export const MAX_BARRIERS = 500;

/** The long-poll window a single barrier or receive call waits at most, server side. */
export const DEFAULT_PARTNER_WAIT_MS = 20_000;

export interface PartnerState {
  /** barrier name → recipe indexes that arrived, in arrival order */
  barriers: Record<string, number[]>;
  /** messages in the order first sent; a later send of the same key by the same job replaces the value */
  messages: { from: string; key: string; value: string }[];
  /** recipe indexes whose chain ended */
  ended: number[];
}

export const emptyPartnerState = (): PartnerState => ({ barriers: {}, messages: [], ended: [] });

/** Where each job of the set is: its recipe index. */
export interface SetMembers {
  /** job name → recipe index */
  recipeOf: Record<string, number>;
  /** job name of each job id */
  nameOf: Record<string, string>;
  recipeCount: number;
}

export type BarrierAnswer =
  | { state: 'reached'; barrier: string }
  | { state: 'waiting'; barrier: string; waitingFor: string[] }
  | { state: 'partner-ended'; barrier: string; reason: string };

export type ReceiveAnswer =
  | { state: 'received'; key: string; from: string; value: string }
  | { state: 'waiting'; key: string }
  | { state: 'partner-ended'; key: string; reason: string };

/** Names of the jobs of one recipe, for messages. */
const jobsOf = (members: SetMembers, recipe: number) =>
  Object.entries(members.recipeOf)
    .filter(([, r]) => r === recipe)
    .map(([name]) => name);

const named = (members: SetMembers, recipes: number[]) =>
  recipes.map((r) => jobsOf(members, r).join('/')).map((n) => `\`${n}\``);

/** A job arrives at a barrier (again: harmless, calls are retried). */
export function arrive(state: PartnerState, members: SetMembers, jobName: string, barrier: string): void {
  const recipe = members.recipeOf[jobName];
  if (recipe === undefined) return;
  const arrived = (state.barriers[barrier] ??= []);
  if (!arrived.includes(recipe)) arrived.push(recipe);
}

/** Where a barrier stands for one of its jobs. */
export function barrierState(state: PartnerState, members: SetMembers, barrier: string): BarrierAnswer {
  const arrived = state.barriers[barrier] ?? [];
  const missing = Array.from({ length: members.recipeCount }, (_, i) => i).filter((r) => !arrived.includes(r));
  if (missing.length === 0) return { state: 'reached', barrier };
  const gone = missing.filter((r) => state.ended.includes(r));
  if (gone.length > 0)
    return {
      state: 'partner-ended',
      barrier,
      reason: `partner ${named(members, gone).join(', ')} ended before reaching barrier \`${barrier}\``,
    };
  return { state: 'waiting', barrier, waitingFor: missing.flatMap((r) => jobsOf(members, r)) };
}

/** Stores a message (a resend of the same key by the same job replaces its value). */
export function send(state: PartnerState, from: string, key: string, value: string): void {
  const existing = state.messages.find((m) => m.from === from && m.key === key);
  if (existing) existing.value = value;
  else state.messages.push({ from, key, value });
}

/** Why a send cannot be kept, or undefined. */
export function cannotSend(state: PartnerState, from: string, key: string, value: string): string | undefined {
  if (new TextEncoder().encode(value).length > MAX_MESSAGE_BYTES) return `value: at most ${MAX_MESSAGE_BYTES} bytes`;
  const isNew = !state.messages.some((m) => m.from === from && m.key === key);
  if (isNew && state.messages.length >= MAX_MESSAGES) return `this recipe set already keeps ${MAX_MESSAGES} messages`;
  return undefined;
}

/** Why an arrival cannot be kept, or undefined. */
export function cannotArrive(state: PartnerState, barrier: string): string | undefined {
  if (state.barriers[barrier] === undefined && Object.keys(state.barriers).length >= MAX_BARRIERS)
    return `this recipe set already keeps ${MAX_BARRIERS} barriers`;
  return undefined;
}

/**
 * The message a job receives: the first partner (other than itself; or only `from`) that
 * sent `key`. Once every partner it could come from has ended without sending it, it never will.
 */
export function receiveState(
  state: PartnerState,
  members: SetMembers,
  receiver: string,
  key: string,
  from?: string,
): ReceiveAnswer {
  const found = state.messages.find(
    (m) => m.key === key && m.from !== receiver && (from === undefined || m.from === from),
  );
  if (found) return { state: 'received', key, from: found.from, value: found.value };
  const own = members.recipeOf[receiver];
  const senders =
    from !== undefined
      ? [members.recipeOf[from]!]
      : Array.from({ length: members.recipeCount }, (_, i) => i).filter((r) => r !== own);
  if (senders.length > 0 && senders.every((r) => state.ended.includes(r))) {
    return {
      state: 'partner-ended',
      key,
      reason: `${from !== undefined ? `partner \`${from}\`` : 'every partner'} ended without sending \`${key}\``,
    };
  }
  return { state: 'waiting', key };
}

/** Why a partner request of `jobId` is not for this set, or undefined. */
export function notAPartner(members: SetMembers, jobId: string, from?: string): string | undefined {
  const name = members.nameOf[jobId];
  if (name === undefined) return `job ${jobId} is not a job of this recipe set`;
  if (from !== undefined && members.recipeOf[from] === undefined)
    return `from: no job \`${from}\` in this recipe set (its jobs: ${Object.keys(members.recipeOf).join(', ')})`;
  return undefined;
}

/** TESTBAY_PARTNERS: every job of the set (the runner's own included), by name. */
export function partnersOf(
  recipes: { jobs: { id: string; name: string; role?: string }[] }[],
  hosts: { hostId: string; address?: string; hostname?: string }[],
): Record<string, Partner> {
  const partners: Record<string, Partner> = {};
  recipes.forEach((recipe, i) => {
    const host = hosts[i];
    if (!host) return;
    for (const job of recipe.jobs) {
      partners[job.name] = {
        jobId: job.id,
        hostId: host.hostId,
        address: host.address ?? host.hostname ?? host.hostId,
        hostname: host.hostname ?? host.hostId,
        role: job.role ?? job.name,
      };
    }
  });
  return partners;
}

/** How a person reaches the host: its address and hostname as the set's partners know them, else its id. */
export function hostAddressOf(
  partners: Readonly<Record<string, Partner>> | undefined,
  hostId: string,
): { address: string; hostname: string } {
  const partner = partners ? Object.values(partners).find((p) => p.hostId === hostId) : undefined;
  return { address: partner?.address ?? hostId, hostname: partner?.hostname ?? hostId };
}
