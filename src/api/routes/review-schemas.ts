/**
 * @module The shapes of the review routes (scenarios and their history, investigation,
 * comments, labels, the review list, rerun what failed), beside api-schemas.ts: what they
 * take, validated with these very schemas, and what they answer, for the OpenAPI document.
 */
import { z } from 'zod';
import { SCENARIO_KEY_PATTERN } from '../../domain/scenario.js';
import { jobResult } from './api-schemas.js';

const iso = z.string().describe('ISO 8601 time');

export const scenarioKeyParam = z
  .string()
  .max(2000)
  .regex(SCENARIO_KEY_PATTERN, 'is not a scenario key (<name>@<workerClass>[+KEY=value…][/test])');
export const historyQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(20).describe('1 to 500 (default 20)'),
});
export const reviewQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('1 to 500 (default 50)'),
});

export const scenario = z.object({
  key: z.string(),
  name: z.string(),
  workerClass: z.string(),
  settings: z.record(z.string(), z.string()),
  testId: z.string().optional().describe('one test of a batch run'),
  description: z.string().describe('how the scenario reads for people'),
});

export const scenarioRun = z.object({
  jobId: z.string(),
  submissionId: z.string(),
  name: z.string(),
  attempt: z.number().int(),
  hostId: z.string().optional(),
  state: z.string(),
  result: jobResult.optional(),
  openedAt: iso,
  startedAt: iso.optional(),
  endedAt: iso.optional(),
  testsCommit: z.string().optional(),
});

export const scenarioHistory = z.object({
  scenario,
  runs: z.array(scenarioRun).describe('newest first'),
  lastGood: scenarioRun.optional().describe('the last passed run'),
  firstBadSince: scenarioRun
    .optional()
    .describe('the first failed run after the last good one (or the first failed run, when none passed)'),
});

const change = <T extends z.ZodType>(t: T) => z.object({ before: t, after: t });
const recordDiff = z.object({
  added: z.record(z.string(), z.string()),
  removed: z.record(z.string(), z.string()),
  changed: z.record(z.string(), change(z.string())),
});
const assetRef = z.object({ name: z.string(), sha256: z.string() });

export const investigation = z.object({
  jobId: z.string(),
  scenario: z.string().optional(),
  result: jobResult.optional(),
  lastGood: z
    .union([
      z.object({ jobId: z.string(), submissionId: z.string(), endedAt: iso.optional() }),
      z.object({ none: z.string() }),
    ])
    .describe('the last passed run of the scenario before this job, or why there is none'),
  settings: recordDiff.optional(),
  argv: change(z.array(z.string())).optional(),
  testCode: z
    .object({
      repository: change(z.string()).optional(),
      ref: change(z.string()).optional(),
      commit: change(z.string().optional()).optional(),
      log: z.array(z.string()).optional().describe("git log --oneline between the two commits, from the host's mirror"),
      logNote: z.string().optional().describe('why the log is missing'),
    })
    .optional(),
  assets: z
    .object({
      added: z.array(assetRef),
      removed: z.array(assetRef),
      changed: z.array(z.object({ name: z.string(), sha256: change(z.string()) })),
    })
    .optional(),
  host: z.object({ id: change(z.string().optional()).optional(), capabilities: recordDiff.optional() }).optional(),
  tests: z
    .object({
      newlyFailing: z.array(z.string()),
      newlyPassing: z.array(z.string()),
      appeared: z.array(z.string()),
      disappeared: z.array(z.string()),
    })
    .optional(),
});

/** A comment at most this long; its request body is refused with 413 above COMMENT_BODY_LIMIT. */
export const MAX_COMMENT_CHARS = 20_000;
export const COMMENT_BODY_LIMIT = '100kb';
export const commentBody = z.strictObject({
  text: z.string().trim().min(1, 'a comment needs text').max(MAX_COMMENT_CHARS),
});

const commentPart = z.union([z.object({ text: z.string() }), z.object({ ref: z.string(), url: z.string() })]);
export const comment = z.object({
  id: z.number().int(),
  targetId: z.string().describe('the job or submission id'),
  submissionId: z.string(),
  author: z.string().describe("the token's name"),
  text: z.string().describe('as written: shown as text, never as HTML'),
  createdAt: iso,
  carriedOverFrom: z
    .string()
    .optional()
    .describe('written by the carry-over rule: the job whose bug references it carries'),
  parts: z.array(commentPart).describe('the text split into plain text and bug-reference links (TESTBAY_BUG_REFS)'),
});
export const commentList = z.object({ comments: z.array(comment) });

export const LABEL_PATTERN = /^[a-z0-9][a-z0-9._-]{0,39}$/;
export const labelParam = z
  .string()
  .regex(LABEL_PATTERN, 'a label is 1 to 40 lowercase letters, digits, ".", "_" or "-"');
export const labelBody = z.strictObject({ label: labelParam });
export const labelList = z.object({
  labels: z.array(z.object({ label: z.string(), addedBy: z.string(), addedAt: iso })),
});

export const reviewList = z.object({
  jobs: z
    .array(
      z.object({
        jobId: z.string(),
        submissionId: z.string(),
        name: z.string(),
        hostId: z.string(),
        endedAt: iso.optional(),
        result: jobResult,
        scenario: z.string().optional(),
        labels: z.array(z.string()),
      }),
    )
    .describe('failed jobs without a comment, newest first'),
});

export const rerunBody = z.strictObject({
  failed: z.literal(true, { error: 'say failed: true (rerun its failed, aborted and skipped jobs)' }),
});
