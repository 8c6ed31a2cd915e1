/** @module The wire's reservation: a host kept for a person (after a job, or lent by hand). */
import { z } from 'zod';
import { epochMs } from './common.js';

export const reservation = z
  .object({
    kind: z.enum(['job', 'loan']),
    by: z.string().describe("who holds it: the job's submitter, or the borrower of a loan"),
    why: z.string(),
    since: epochMs,
    until: epochMs,
    capMs: z.number().int().describe('the longest it may last from `since`, extensions included'),
    holder: z.string().describe('the workflow that holds the lease (a chain, or a loan)'),
    hostId: z.string(),
    jobId: z.string().optional(),
    submissionId: z.string().optional(),
    address: z.string(),
    hostname: z.string(),
    workDir: z.string().optional(),
    resultsDir: z.string().optional(),
    startOutput: z.string().optional().describe("what the host's reserve start command printed"),
  })
  .describe('a host kept for a person: after a job (its `reserve`), or lent by hand (`testbay reserve`)');

const positiveMs = z
  .number()
  .int()
  .positive()
  .max(7 * 24 * 60 * 60_000, 'at most 7 days');
export const loanBody = z.strictObject({
  forMs: positiveMs.describe('how long the host is lent'),
  reason: z.string().max(500).optional(),
});
export const priorityBody = z.strictObject({
  priority: z.number().int().min(0).max(1000).describe('lower runs first'),
});
export const priorityChanged = z.object({ id: z.string(), previous: z.number().int(), priority: z.number().int() });
