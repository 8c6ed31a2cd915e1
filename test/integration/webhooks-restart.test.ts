/**
 * Deliveries survive restarts: a receiver refuses a delivery while the control worker
 * and then the API are killed with SIGKILL and started again (the lab's parts as
 * processes of their own, as deployed). The delivery's retries are Temporal's: the
 * restarted worker makes the next attempt, and it is delivered once the receiver takes
 * it, with every attempt in the log (one the killed worker could not record says so).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { UNRECORDED } from '../../src/activities/control/webhooks.js';
import { notifyClient } from '../../src/api/notify-client.js';
import { verifySignature } from '../../src/api/notify/signature.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
let receiver: http.Server;
let url: string;
const answers: number[] = [503, 503, 503, 503];
const got: { status: number; body: string; signature: string }[] = [];

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = answers.shift() ?? 200;
      got.push({
        status,
        body: Buffer.concat(chunks).toString(),
        signature: String(req.headers['x-testbay-signature']),
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  lab = await TestLab.start({
    name: 'webhooks-restart',
    separateProcesses: true,
    hosts: [{ id: 'r1' }],
    env: {
      TESTBAY_WEBHOOK_RETRY_INITIAL_MS: '1000',
      TESTBAY_WEBHOOK_RETRY_MAX_MS: '2000',
      TESTBAY_WEBHOOK_TIMEOUT_MS: '2000',
    },
  });
}, 120_000);
afterAll(async () => {
  await lab?.stop();
  receiver?.closeAllConnections();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
});

it('a delivery being retried is delivered after the control worker and the API were killed and restarted', async () => {
  const notify = notifyClient(lab.api);
  const { webhook, secret } = await notify.addWebhook({ url, events: ['submission.done'] });
  const { id } = await lab.submit({ jobs: [osTest('durable')] });
  await waitFor('the first refusal', () => got.length >= 1, 60_000);
  await lab.restartPart('control', { signal: 'SIGKILL' });
  await lab.restartPart('api', { signal: 'SIGKILL' });
  await waitFor('the delivery to be taken', () => got.some((g) => g.status === 200), 90_000, 200);
  const taken = got.find((g) => g.status === 200)!;
  expect(verifySignature(secret, taken.body, taken.signature)).toBe(true);
  expect(JSON.parse(taken.body)).toMatchObject({ event: 'submission.done', submission: { id, result: 'passed' } });
  const [d] = await waitFor('the log to say delivered', async () => {
    const l = (await notify.deliveries({ webhook: webhook.id })).deliveries;
    return l[0]?.state === 'delivered' ? l : undefined;
  });
  // Every attempt is in the log, in order. One whose worker or API was killed before it was
  // recorded (whether or not it reached the receiver) says so; every refusal the receiver gave
  // is there, as its answer or as such a line.
  const answers = d!.attempts.map((a) => a.statusCode ?? a.error);
  expect(d!.attempts.map((a) => a.attempt)).toEqual(answers.map((_, i) => i + 1));
  expect(answers.at(-1)).toBe(200);
  expect(answers.slice(0, -1).filter((a) => a !== 503 && a !== UNRECORDED)).toEqual([]);
  expect(answers.length - 1).toBeGreaterThanOrEqual(got.filter((g) => g.status === 503).length);
  expect(answers.filter((a) => a === 503).length).toBeLessThanOrEqual(got.filter((g) => g.status === 503).length);
  // Exactly one 200: at least once, and here once.
  expect(got.filter((g) => g.status === 200)).toHaveLength(1);
});
