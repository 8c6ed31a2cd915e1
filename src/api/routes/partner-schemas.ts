/**
 * @module What the partner routes take and answer (barriers and messages between the jobs
 * of a recipe set), as zod schemas: the routes validate with them, OpenAPI shows them.
 */
import { z } from 'zod';
import { barrierName, MAX_MESSAGE_BYTES, messageKey } from '../../domain/partners.js';
import { jobName } from '../../domain/spec.js';
import { jobIdParam } from './api-schemas.js';

const waitMs = z.coerce
  .number()
  .int()
  .min(0)
  .max(10 * 60_000)
  .describe(
    'how long this call may wait for an answer, in ms (the server waits at most TESTBAY_PARTNER_WAIT_MS, default 20 s)',
  );
export const barrierParams = z.strictObject({ id: jobIdParam, name: barrierName });
export const messageParams = z.strictObject({ id: jobIdParam, key: messageKey });
export const barrierBody = z.strictObject({ waitMs: waitMs.optional() });
export const sendBody = z.strictObject({
  value: z.string().max(MAX_MESSAGE_BYTES).describe(`the value, text of at most ${MAX_MESSAGE_BYTES} bytes`),
});
export const receiveQuery = z.strictObject({
  from: jobName.optional().describe('only a message sent by this job (a name)'),
  waitMs: waitMs.optional(),
});

export const barrierAnswer = z.discriminatedUnion('state', [
  z.strictObject({ state: z.literal('reached'), barrier: z.string() }),
  z.strictObject({
    state: z.literal('waiting'),
    barrier: z.string(),
    waitingFor: z.array(z.string()).describe('the jobs not there yet'),
  }),
  z.strictObject({ state: z.literal('partner-ended'), barrier: z.string(), reason: z.string() }),
]);
export const receiveAnswer = z.discriminatedUnion('state', [
  z.strictObject({
    state: z.literal('received'),
    key: z.string(),
    from: z.string().describe('the job that sent it'),
    value: z.string(),
  }),
  z.strictObject({ state: z.literal('waiting'), key: z.string() }),
  z.strictObject({ state: z.literal('partner-ended'), key: z.string(), reason: z.string() }),
]);
export const sent = z.strictObject({ key: z.string() });
