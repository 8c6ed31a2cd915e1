/**
 * @module A batch run on the wire: its progress view, its details page, its verdicts
 * (exactly one per test), and what the control worker writes for it (the test list,
 * verdicts, late reports of fenced batches).
 */
import { z } from 'zod';
import { VERDICTS } from '../batch-ledger.js';
import { BATCH_ID_PATTERN } from '../ids.js';
import { RESULT_KINDS } from '../outcome.js';
import { NAME_PATTERN } from '../spec.js';
import { epochMs } from './common.js';
import { jobDetails } from './jobs.js';

const count = z.number().int();

/** A batch run's tests by verdict (the ledger's counts). */
export const batchCounts = z.object({
  total: count,
  passed: count,
  failed: count,
  flaky: count,
  skipped: count,
  lost: count,
  cancelled: count,
  running: count.describe('in a batch out on a host, no result yet'),
  queued: count.describe('waiting for a first batch'),
  requeued: count.describe('waiting again after a lost batch (normal queue or isolation)'),
});

/** A test and why it is named: isolated, lost or failed. */
export const testNote = z.object({ test: z.string(), reason: z.string() });

/** A batch run's progress, as the workflow reports it. */
export const batchRun = z.object({
  id: z.string().describe('job-like id <submission>.<n> (logs of its batches: <submission>.<n>.<batch>)'),
  name: z.string(),
  state: z.enum(['waiting', 'listing', 'running', 'done']),
  result: z.enum(RESULT_KINDS).exactOptional(),
  reason: z.string().exactOptional().describe('why the run ended early or stopped requeuing'),
  counts: batchCounts,
  hosts: z.array(z.string()),
  batches: count,
  lostBatches: count,
  isolated: z.array(testNote).describe('tests rerun in a batch of their own, and why (first 200)'),
  lost: z
    .array(testNote)
    .describe("tests without a result after every attempt, with every attempt's host, time and reason (first 200)"),
  failed: z.array(testNote).describe('failed tests and why (first 200)'),
  flaky: z.array(z.string()),
  running: z
    .array(z.object({ batchId: z.string(), hostId: z.string(), tests: count, current: z.string().exactOptional() }))
    .describe('batches out on hosts now'),
  workflowId: z.string(),
});

/** GET /jobs/:id of a batch run (`<submission>.<n>`): the run as its submission shows it. */
export const batchRunDetails = batchRun.extend({
  kind: z.literal('batch-run'),
  submissionId: z.string(),
  temporalWebUrl: z.string().describe("the batch run's workflow in Temporal Web"),
  submissionWebUrl: z.string().describe("the submission's workflow in Temporal Web"),
});

export const jobOrBatchRun = z.discriminatedUnion('kind', [jobDetails, batchRunDetails]);

export const verdict = z.object({
  test: z.string(),
  verdict: z.enum(VERDICTS),
  reason: z.string().exactOptional(),
  attempts: z.number().int().describe('how many times it was handed to a batch (results and losses)'),
  late: z
    .number()
    .int()
    .exactOptional()
    .describe('results that came after its verdict (at-least-once execution): history, not counted'),
  history: z
    .array(
      z.object({
        batchId: z.string(),
        hostId: z.string(),
        at: epochMs,
        outcome: z
          .string()
          .describe(
            'what the attempt gave: passed, failed, error, skipped, or why it gave none: lost, suspect, late, not-started, interrupted',
          ),
        status: z
          .enum(['passed', 'failed', 'error', 'skipped'])
          .exactOptional()
          .describe('for a late result: what it said'),
        reason: z.string().exactOptional(),
        durationMs: z.number().exactOptional(),
      }),
    )
    .exactOptional()
    .describe('every attempt: batch, host, time, what it gave'),
});

export const verdictList = z
  .object({ verdicts: z.array(verdict) })
  .describe("a batch run's verdicts: exactly one per test");
/** A test's verdict as the store keeps it and `GET /jobs/{id}/verdicts` returns it, with every attempt. */
export type StoredVerdict = z.infer<typeof verdict>;
export type StoredAttempt = NonNullable<StoredVerdict['history']>[number];
export type VerdictList = z.infer<typeof verdictList>;

export const batchRunNameParam = z.string().regex(NAME_PATTERN, 'is not a batch run name');

export const batchTestsQuery = z.object({
  offset: z.coerce.number().int().min(0),
  limit: z.coerce.number().int().min(1).max(100_000),
});

export const batchTestsBody = z.strictObject({ tests: z.array(z.string().min(1).max(300)).max(1_000_000) });

export const verdictsBody = z.strictObject({
  offset: z.number().int().min(0),
  verdicts: z.array(z.looseObject({ test: z.string(), verdict: z.string(), attempts: z.number() })),
});
/** What the control worker stores of a shard of verdicts (checked loosely: the store keeps them as given). */
export type VerdictsBody = z.infer<typeof verdictsBody>;

export const lateReportBody = z.strictObject({
  batchId: z.string().regex(BATCH_ID_PATTERN, 'a batch id <submission>.<run>.<batch>'),
  hostId: z.string().min(1).max(200),
  at: z.number().int().min(0),
  results: z
    .array(
      z.strictObject({
        test: z.string(),
        status: z.enum(['passed', 'failed', 'error', 'skipped']),
        durationMs: z.number().min(0).optional(),
        message: z.string().optional(),
      }),
    )
    .max(10_000),
});
