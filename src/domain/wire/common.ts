/**
 * @module What every part of the API shares on the wire: times, the error body, the
 * session, and the small bodies and queries many routes take.
 */
import { z } from 'zod';

export const iso = z.string().describe('ISO 8601 time');

export const epochMs = z.number().describe('milliseconds since the epoch');

export const errorBody = z
  .object({
    error: z.string(),
    issues: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() })).optional(),
  })
  .describe('every error: a message, and for bad input the issues with the path of each field at fault');

export const session = z.object({
  name: z.string(),
  role: z.string(),
  canOperate: z.boolean(),
  temporalWebUrl: z.string(),
  namespace: z.string(),
});

export const eventsQuery = z.object({ token: z.string().optional().describe('the bearer token, for EventSource') });

export const reasonBody = z
  .strictObject({ reason: z.string().max(500).optional() })
  .default({})
  .describe('why (shown with the result)');
