/**
 * @module How a job ended and what it left: the result union, progress, per-test results
 * and artifacts, as the API returns them.
 */
import { z } from 'zod';
import { AbortCause } from '../outcome.js';

export const jobResult = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('passed'), reason: z.string().exactOptional() }),
    z
      .object({ kind: z.literal('failed'), reason: z.string() })
      .describe('the runner ran and a test failed: the system under test is at fault'),
    z
      .object({
        kind: z.literal('aborted'),
        cause: z.enum(Object.values(AbortCause) as [AbortCause, ...AbortCause[]]),
        reason: z.string(),
      })
      .describe('an infrastructure fault, with its typed cause; retried on another host up to maxRetries'),
    z.object({ kind: z.literal('cancelled'), reason: z.string() }),
    z.object({ kind: z.literal('skipped'), reason: z.string() }),
  ])
  .describe('how a job ended');

export const progress = z.object({
  module: z.string().exactOptional(),
  percent: z.number().exactOptional(),
  message: z.string().exactOptional(),
});

export const testCase = z.object({
  name: z.string(),
  classname: z.string().optional(),
  status: z.enum(['passed', 'failed', 'error', 'skipped']),
  durationMs: z.number().optional(),
  message: z.string().optional(),
});

export const artifact = z.object({ name: z.string(), sizeBytes: z.number().int() });

export const testList = z.object({ tests: z.array(testCase) });

export const artifactList = z.object({ artifacts: z.array(artifact) });
