/**
 * @module The commands a runner calls to meet its partners (the other jobs of its recipe
 * set): `barrier`, `send`, `receive`, like LAVA's lava-sync / lava-send / lava-wait. They
 * read TESTBAY_URL, TESTBAY_JOB_ID and TESTBAY_JOB_TOKEN, which the host sets for the
 * runner. A wait of any length is a series of short calls (each at most the server's
 * long-poll window, and within TESTBAY_API_TIMEOUT_MS), retried through an API restart.
 * Exit 0 done, 2 bad input or a token refused, 3 a partner ended first or the timeout passed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { ApiError, ApiUnreachable, DEFAULT_CLIENT_TIMEOUTS, TestbayClient } from '../api/client.js';
import { parseDuration } from '../domain/duration.js';
import { barrierName, messageKey } from '../domain/partners.js';
import { jobName } from '../domain/spec.js';
import { EXIT } from './exit-codes.js';
import { UsageError } from './lab-target.js';

type Command = (args: string[]) => Promise<number>;

export const PARTNER_USAGE = `
A runner and its partners (the jobs of its recipe set; TESTBAY_URL, TESTBAY_JOB_ID and TESTBAY_JOB_TOKEN come from the host)
  barrier NAME [--timeout 10m] [--json]
                                   wait until every partner reached barrier NAME (exit 0); exit 3 when
                                   a partner ended first or the timeout passed
  send KEY VALUE [--json]          give the partners a value under KEY
  receive KEY [--from JOB] [--timeout 10m] [--json]
                                   print the value a partner (or JOB) sent under KEY, once it is sent;
                                   exit 3 when the partners ended without sending it or the timeout passed`;

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
/** `10m`, `30s`, `1h`, `500ms`, or plain milliseconds (domain/duration.ts). */
export function parseDurationMs(text: string, flag: string): number {
  const parsed = parseDuration(text);
  if (!parsed.ok) throw new UsageError(`${flag}: ${parsed.message}`);
  return parsed.ms;
}

function valid<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UsageError(`${field}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

function runnerClient(env: NodeJS.ProcessEnv = process.env): {
  client: TestbayClient;
  jobId: string;
  requestTimeoutMs: number;
} {
  const { TESTBAY_URL: url, TESTBAY_JOB_ID: jobId, TESTBAY_JOB_TOKEN: token } = env;
  if (!url || !jobId || !token) {
    throw new UsageError(
      "barrier, send and receive are for a job's runner: they need TESTBAY_URL, TESTBAY_JOB_ID and TESTBAY_JOB_TOKEN, which the host sets for jobs of a recipe set",
    );
  }
  const requestTimeoutMs = env.TESTBAY_API_TIMEOUT_MS
    ? parseDurationMs(env.TESTBAY_API_TIMEOUT_MS, 'TESTBAY_API_TIMEOUT_MS')
    : DEFAULT_CLIENT_TIMEOUTS.requestTimeoutMs;
  return { client: new TestbayClient(url, token, { requestTimeoutMs }), jobId, requestTimeoutMs };
}

/**
 * Asks `call` (one long-poll) until its answer is not `waiting` or the deadline passed. An
 * API that cannot be reached or answers 5xx (restarting) is asked again until the deadline.
 */
async function untilDecided<T extends { state: string }>(
  timeoutMs: number,
  requestTimeoutMs: number,
  call: (waitMs: number) => Promise<T>,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  // One call waits less than the client's own stall limit, so no request looks hung.
  const slice = Math.max(1_000, requestTimeoutMs - 2_000);
  for (;;) {
    const left = deadline - Date.now();
    try {
      const answer = await call(Math.max(0, Math.min(left, slice)));
      if (answer.state !== 'waiting' || Date.now() >= deadline) return answer.state === 'waiting' ? undefined : answer;
    } catch (err) {
      const transient = err instanceof ApiUnreachable || (err instanceof ApiError && err.status >= 500);
      // An API that stayed away until the deadline: no verdict (exit 4), not a timeout.
      if (!transient || Date.now() >= deadline) throw err;
      await sleep(Math.min(1_000, Math.max(0, deadline - Date.now())));
    }
  }
}

const print = (json: boolean | undefined, value: object, text: string) =>
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : text);

const barrier: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { timeout: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1) throw new UsageError('usage: testbay barrier NAME [--timeout 10m] [--json]');
  const name = valid(barrierName, positionals[0], 'name');
  const timeoutMs = values.timeout !== undefined ? parseDurationMs(values.timeout, '--timeout') : DEFAULT_TIMEOUT_MS;
  const { client, jobId, requestTimeoutMs } = runnerClient();
  const answer = await untilDecided(timeoutMs, requestTimeoutMs, (waitMs) =>
    client.partnerBarrier(jobId, name, waitMs),
  );
  if (!answer) {
    print(values.json, { barrier: name, state: 'timeout' }, '');
    process.stderr.write(`testbay: barrier \`${name}\` not reached within ${values.timeout ?? '10m'}\n`);
    return EXIT.aborted;
  }
  if (answer.state === 'reached') {
    print(values.json, answer, `barrier ${name} reached\n`);
    return 0;
  }
  print(values.json, answer, '');
  process.stderr.write(`testbay: ${'reason' in answer ? answer.reason : answer.state}\n`);
  return EXIT.aborted;
};

const send: Command = async (args) => {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length !== 2) throw new UsageError('usage: testbay send KEY VALUE [--json]');
  const key = valid(messageKey, positionals[0], 'key');
  const { client, jobId } = runnerClient();
  const sent = await client.partnerSend(jobId, key, positionals[1]!);
  print(values.json, sent, '');
  return 0;
};

const receive: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { from: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1)
    throw new UsageError('usage: testbay receive KEY [--from JOB] [--timeout 10m] [--json]');
  const key = valid(messageKey, positionals[0], 'key');
  const from = values.from !== undefined ? valid(jobName, values.from, 'from') : undefined;
  const timeoutMs = values.timeout !== undefined ? parseDurationMs(values.timeout, '--timeout') : DEFAULT_TIMEOUT_MS;
  const { client, jobId, requestTimeoutMs } = runnerClient();
  const answer = await untilDecided(timeoutMs, requestTimeoutMs, (waitMs) =>
    client.partnerReceive(jobId, key, waitMs, from),
  );
  if (!answer) {
    print(values.json, { key, state: 'timeout' }, '');
    process.stderr.write(`testbay: nothing received under \`${key}\` within ${values.timeout ?? '10m'}\n`);
    return EXIT.aborted;
  }
  if (answer.state === 'received') {
    print(values.json, answer, `${answer.value}\n`);
    return 0;
  }
  print(values.json, answer, '');
  process.stderr.write(`testbay: ${'reason' in answer ? answer.reason : answer.state}\n`);
  return EXIT.aborted;
};

export const partnerCommands: Record<string, Command> = { barrier, send, receive };
