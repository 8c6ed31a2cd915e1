/**
 * @module A job on the wire: its view (in a submission, and with its details on its own
 * page), its id, its log's queries, and what the host and the control worker write to its
 * record.
 */
import { z } from 'zod';
import { HOST_ID_PATTERN, JOB_ID_PATTERN, SUBMISSION_ID_PATTERN } from '../ids.js';
import { RESULT_KINDS } from '../outcome.js';
import { JOB_STATES } from '../views.js';
import { iso } from './common.js';
import { artifact, jobResult, progress, testCase } from './results.js';
import { reservation } from './reservations.js';

export const job = z.object({
  id: z.string().describe('<submission>.<n>'),
  name: z.string(),
  setNumber: z.number().int(),
  attempt: z.number().int(),
  workerClass: z.string(),
  state: z.enum(JOB_STATES),
  result: jobResult.exactOptional(),
  hostId: z.string().exactOptional(),
  clonedFrom: z.string().exactOptional().describe('the job id of the attempt this one re-runs'),
  retriedAs: z.string().exactOptional().describe('the job id of the attempt that re-ran this one'),
  waitingReason: z
    .string()
    .exactOptional()
    .describe(
      'why it waits: for its parents, for a host (the scheduler says why), or (scheduled) for the job before it in its chain on its host',
    ),
  startedAt: iso.exactOptional(),
  endedAt: iso.exactOptional(),
  progress: progress.exactOptional(),
});

export const jobExtension = z.object({
  byMs: z.number().int(),
  by: z.string().describe("who asked: a token's name, or `runner`"),
  at: iso,
});

export const jobDetails = job.extend({
  kind: z.literal('job'),
  extensions: z
    .array(jobExtension)
    .optional()
    .describe('extensions of its deadline while it ran (testbay extend, or the runner)'),
  extendedMs: z.number().int().optional().describe('the sum of its extensions'),
  timeoutMs: z.number().int().optional().describe("while it runs: its spec's timeoutMs"),
  deadline: iso
    .optional()
    .describe("while it runs: when its timeout stops it (the runner's start, timeoutMs and the extensions)"),
  reservation: reservation.optional().describe("set while the job's host is kept for a person after it"),
  submissionId: z.string(),
  tests: z.array(testCase),
  artifacts: z.array(artifact),
  logBytes: z.number().int(),
  savedBytes: z
    .number()
    .int()
    .optional()
    .describe('bytes the host saved by optimising PNG screenshots losslessly before upload'),
  purgedAt: iso.optional().describe('when retention deleted its log and artifacts'),
  scenario: z.string().optional().describe("its scenario's key: GET /scenarios/{key}/history"),
  temporalWebUrl: z
    .string()
    .describe("the job's chain workflow in Temporal Web once it has a host (else the submission's)"),
  submissionWebUrl: z.string().describe("the submission's workflow in Temporal Web"),
});

export const jobIdParam = z.string().regex(JOB_ID_PATTERN, 'is not a job id');

const byteCount = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a whole number of bytes')
  .transform(Number);

export const logQuery = z.object({
  follow: z
    .enum(['1', 'true', '0', 'false'])
    .optional()
    .describe(
      '1: follow live as Server-Sent Events (`start` with where it begins and the size so far, `log` chunks, then `end`)',
    ),
  start: byteCount.optional().describe('byte offset to begin at (default 0)'),
  end: byteCount.optional().describe('byte offset to stop before (default: the end); not with follow'),
  tail: byteCount
    .optional()
    .describe(
      'only the last this many bytes (before `end`), from the start of a line: how the job page shows a large log',
    ),
  token: z.string().optional().describe('the bearer token, for EventSource: accepted only with follow=1'),
});

export const offsetQuery = z.object({
  offset: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a byte offset in decimal digits')
    .transform(Number)
    .describe('byte offset of the chunk'),
});

export const restartBody = z
  .strictObject({ children: z.boolean().default(true).describe('also re-run the jobs that depend on it') })
  .default({ children: true });
export const extendBody = z.strictObject({
  byMs: z
    .number()
    .int()
    .positive()
    .max(7 * 86_400_000, 'at most 7 days at once')
    .describe(
      'how much longer, in ms: a running job may run (within TESTBAY_MAX_EXTEND_MS in all), or a reservation holds its host (within its cap)',
    ),
});

export const progressBody = z.strictObject({
  state: z.enum(['scheduled', 'provisioning', 'running', 'uploading']).optional(),
  progress: z
    .strictObject({
      module: z.string().max(200).optional(),
      percent: z.number().min(0).max(100).optional(),
      message: z.string().max(1000).optional(),
    })
    .optional(),
  savedBytes: z.number().int().min(0).optional(),
  testCode: z
    .strictObject({
      commit: z.string().regex(/^[0-9a-f]{7,64}$/, 'a commit id'),
      log: z.array(z.string().max(300)).max(200).optional(),
    })
    .optional()
    .describe('the test code the host checked out: its commit, and `git log --oneline` up to it from its mirror'),
});

export const testsBody = z.strictObject({
  tests: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(500),
        classname: z.string().max(500).optional(),
        status: z.enum(['passed', 'failed', 'error', 'skipped']),
        durationMs: z.number().min(0).optional(),
        message: z.string().max(10_000).optional(),
      }),
    )
    .max(100_000),
});

export const openJobBody = z.strictObject({
  jobId: z.string().regex(JOB_ID_PATTERN, 'is not a job id'),
  submissionId: z.string().regex(SUBMISSION_ID_PATTERN, 'is not a submission id'),
  name: z.string().min(1).max(300),
  attempt: z.number().int().min(1),
  setNumber: z.number().int().min(0),
  hostId: z.string().regex(HOST_ID_PATTERN, 'is not a host id'),
  leaseId: z.string().min(1).max(200),
});

export const finishJobBody = z.strictObject({
  leaseId: z.string().min(1).max(200),
  result: z.looseObject({ kind: z.enum(RESULT_KINDS) }),
});
