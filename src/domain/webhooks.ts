/**
 * @module Webhooks and commit statuses, the pure rules: the events a subscription may ask
 * for, its filter and when an event passes it, event ids (the same on every API server,
 * so an event seen twice is enqueued once), the delivery queues (in order, per
 * subscription; a commit's statuses per submission), and how a result maps onto a
 * GitHub/Gitea commit status (aborted and cancelled are `error`, never `failure`).
 */
import { z } from 'zod';
import { RESULT_KINDS, type ResultKind } from './outcome.js';

export const WEBHOOK_EVENTS = ['submission.done', 'job.done', 'host.broken'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** A URL receivers are posted to: http or https only, no credentials in it. */
export const webhookUrl = z
  .string()
  .max(2000)
  .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), {
    message: 'must be an http:// or https:// URL',
  })
  .refine((u) => !URL.canParse(u) || (new URL(u).username === '' && new URL(u).password === ''), {
    message: 'must not carry a user or password (the secret signs each delivery)',
  });

/** Glob over names: `*` any run of characters. */
const pattern = z.string().min(1).max(200);

/**
 * What a subscription wants to hear about, beyond the event kind. Each key narrows; a key
 * an event has nothing to say about (a host.broken event has no result) does not.
 */
export const webhookFilter = z.strictObject({
  /** submission or job name (any job's name for submission.done); `*` globs */
  name: z.array(pattern).min(1).max(20).optional(),
  result: z.array(z.enum(RESULT_KINDS)).min(1).optional(),
  host: z.array(pattern).min(1).max(50).optional(),
  workerClass: z.array(pattern).min(1).max(50).optional(),
});
export type WebhookFilter = z.infer<typeof webhookFilter>;

export const webhookInput = z.strictObject({
  url: webhookUrl,
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1, 'name at least one event').max(WEBHOOK_EVENTS.length),
  filter: webhookFilter.default({}),
  description: z.string().max(200).optional(),
});
export type WebhookInput = z.input<typeof webhookInput>;

/** What an event says about itself, for the filter. */
export interface EventFacts {
  names: string[];
  result?: ResultKind;
  hosts: string[];
  workerClasses: string[];
}

const globRe = (glob: string) => new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
const anyMatch = (globs: string[] | undefined, values: string[]) =>
  globs === undefined || values.length === 0 || globs.some((g) => values.some((v) => globRe(g).test(v)));

export function passesFilter(filter: WebhookFilter, facts: EventFacts): boolean {
  if (filter.result && facts.result !== undefined && !filter.result.includes(facts.result)) return false;
  return (
    anyMatch(filter.name, facts.names) &&
    anyMatch(filter.host, facts.hosts) &&
    anyMatch(filter.workerClass, facts.workerClasses)
  );
}

/**
 * Parses `--filter` words of the CLI: `key=v1,v2` (repeatable), e.g. `result=failed,aborted`
 * `name=nightly-*`. Unknown keys are refused by the schema with their path.
 */
export function filterFromWords(words: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0)
      throw new Error(
        `--filter ${w}: expected key=value[,value] (keys: ${Object.keys(webhookFilter.shape).join(', ')})`,
      );
    (out[w.slice(0, eq)] ??= []).push(
      ...w
        .slice(eq + 1)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  }
  return out;
}

/** Event ids: deterministic, so every API server that sees an event names it alike. */
export const eventId = {
  submissionDone: (submissionId: string) => `submission.done:${submissionId}`,
  jobDone: (jobId: string) => `job.done:${jobId}`,
  hostBroken: (hostId: string, atMs: number) => `host.broken:${hostId}:${atMs}`,
  commitStatus: (submissionId: string, state: CommitState) => `commit.${state}:${submissionId}`,
};

/** Delivery queues: each is delivered in order by one workflow. */
export const deliveryQueue = {
  webhook: (webhookId: string) => `wh-${webhookId}`,
  commitStatus: (submissionId: string) => `cs-${submissionId}`,
};
export const deliveryWorkflowId = (queue: string) => `delivery-${queue}`;

export const COMMIT_STATES = ['pending', 'success', 'failure', 'error'] as const;
export type CommitState = (typeof COMMIT_STATES)[number];

/** A finished submission's commit status: only a test failure is `failure`; an infrastructure abort, a cancel or a skip is `error`. */
export function commitStateOf(result: ResultKind | undefined): CommitState {
  if (result === 'passed') return 'success';
  if (result === 'failed') return 'failure';
  return 'error';
}

/** The `commit:` field of a spec. */
export const commitRef = z.strictObject({
  repo: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'owner/name'),
  sha: z.string().regex(/^[0-9a-fA-F]{7,64}$/, 'a commit hash (hex)'),
  /** the status endpoint of this commit; must be under TESTBAY_COMMIT_STATUS_URL (the token goes nowhere else) */
  statusUrl: webhookUrl.optional(),
});
export type CommitRef = z.infer<typeof commitRef>;

/** Where a commit's status goes: its statusUrl, else `<base>/repos/<repo>/statuses/<sha>` (GitHub and Gitea alike). */
export function commitStatusUrl(base: string, commit: CommitRef): string {
  return commit.statusUrl ?? `${base.replace(/\/+$/, '')}/repos/${commit.repo}/statuses/${commit.sha.toLowerCase()}`;
}

/** Whether `url` is under `base` (same origin, path below): the only place a commit-status token is sent. */
export function isUnder(base: string, url: string): boolean {
  if (!URL.canParse(base) || !URL.canParse(url)) return false;
  const b = new URL(base);
  const u = new URL(url);
  const prefix = b.pathname.endsWith('/') ? b.pathname : `${b.pathname}/`;
  return b.origin === u.origin && (u.pathname === b.pathname || u.pathname.startsWith(prefix));
}
