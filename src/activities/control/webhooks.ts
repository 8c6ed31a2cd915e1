/**
 * @module Delivery activities of the control worker: read a queue's pending deliveries,
 * make one attempt of a delivery (the API hands over the URL, the body and its signed
 * headers; this posts it, cut off after the configured time, and records the attempt),
 * and give a delivery up once its retries ran out. A commit status carries the
 * commit-status token, which only this worker holds, and only to the configured API.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApiError, ApiUnreachable, type TestbayClient } from '../../api/client.js';
import { notifyClient } from '../../api/notify-client.js';
import { ErrorType } from '../../domain/errors.js';
import { isUnder } from '../../domain/webhooks.js';

export interface DeliveryDeps {
  api: TestbayClient;
  commitStatus: { url?: string | undefined; token?: string | undefined };
}

/** What is kept of a receiver's answer in the log: its first bytes. */
const ANSWER_BYTES = 2_048;

/** The log's line for an attempt that was made but never recorded. */
export const UNRECORDED = 'no answer recorded: the control worker or the API stopped during this attempt';

/** How long an attempt's record is tried again while the API restarts, before the attempt fails (the next one records it). */
const RECORD_FOR_MS = 15_000;

/** Records an attempt, trying again while the API does not answer (a restart), so its answer stays in the log. */
async function recording<T>(write: () => Promise<T>): Promise<T> {
  const until = Date.now() + RECORD_FOR_MS;
  for (let wait = 250; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await write();
    } catch (err) {
      const retryable = err instanceof ApiUnreachable || (err instanceof ApiError && err.status >= 500);
      if (!retryable || Date.now() + wait > until) throw err;
      Context.current().heartbeat();
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

export function createDeliveryActivities({ api, commitStatus }: DeliveryDeps) {
  const notify = notifyClient(api);
  return {
    async pendingDeliveries(input: { queue: string; limit: number }): Promise<{ id: string; seq: number }[]> {
      return (await notify.pendingDeliveries(input.queue, input.limit)).deliveries;
    },

    /**
     * One attempt. A 2xx answer delivers it; anything else (another status, no answer
     * within `timeoutMs`, a refused connection) is recorded and thrown, so Temporal retries
     * it by the delivery's policy. A delivery that is no longer pending (its subscription
     * was deleted, or an earlier attempt took) is left alone.
     */
    async deliverOnce(input: {
      deliveryId: string;
      timeoutMs: number;
    }): Promise<{ statusCode?: number; skipped?: string }> {
      const ctx = Context.current();
      const request = await notify.deliveryRequest(input.deliveryId);
      if (request.state !== 'pending') return { skipped: request.state };
      const headers = { ...request.headers };
      if (request.target === 'commit-status') {
        if (!commitStatus.url || !commitStatus.token) {
          throw ApplicationFailure.create({
            type: ErrorType.InvalidInput,
            nonRetryable: true,
            message:
              'commit statuses need TESTBAY_COMMIT_STATUS_URL and TESTBAY_COMMIT_STATUS_TOKEN on the control worker',
          });
        }
        if (!isUnder(commitStatus.url, request.url)) {
          throw ApplicationFailure.create({
            type: ErrorType.InvalidInput,
            nonRetryable: true,
            message: `${request.url} is not under TESTBAY_COMMIT_STATUS_URL=${commitStatus.url}: the token goes nowhere else`,
          });
        }
        headers.authorization = `Bearer ${commitStatus.token}`;
      }
      const attempt = ctx.info.attempt;
      // An earlier attempt whose worker (or the API) stopped before it was recorded is
      // recorded now, as what it is: it may or may not have reached the receiver.
      for (let earlier = 1; earlier < attempt; earlier++) {
        if (request.recordedAttempts.includes(earlier)) continue;
        await recording(() =>
          notify.recordAttempt(
            input.deliveryId,
            { attempt: earlier, at: new Date().toISOString(), error: UNRECORDED, durationMs: 0 },
            false,
          ),
        );
      }
      const started = Date.now();
      const at = new Date(started).toISOString();
      let statusCode: number | undefined;
      let error: string | undefined;
      const timeout = AbortSignal.timeout(input.timeoutMs);
      try {
        const res = await fetch(request.url, {
          method: 'POST',
          headers,
          body: request.body,
          redirect: 'manual',
          signal: AbortSignal.any([timeout, ctx.cancellationSignal]),
        });
        statusCode = res.status;
        const answer = (await res.text()).slice(0, ANSWER_BYTES);
        if (res.status < 200 || res.status > 299)
          error = `answered ${res.status}${answer ? `: ${answer.slice(0, 200)}` : ''}`;
      } catch (err) {
        if (timeout.aborted) error = `no answer within ${input.timeoutMs} ms: cut off`;
        else if (ctx.cancellationSignal.aborted) throw err;
        else {
          const e = err as Error & { cause?: Error & { code?: string } };
          error = e.cause?.code ? `${e.cause.code}: ${e.cause.message}` : (e.cause?.message ?? e.message);
        }
        // An answer whose body hung counts as cut off, even with its status known.
      }
      const delivered = error === undefined;
      await recording(() =>
        notify.recordAttempt(
          input.deliveryId,
          {
            attempt,
            at,
            ...(statusCode !== undefined ? { statusCode } : {}),
            ...(error !== undefined ? { error } : {}),
            durationMs: Date.now() - started,
          },
          delivered,
        ),
      );
      if (!delivered)
        throw ApplicationFailure.create({
          type: ErrorType.Delivery,
          message: `delivery ${input.deliveryId} to ${request.url}, attempt ${attempt}: ${error}`,
        });
      return statusCode !== undefined ? { statusCode } : {};
    },

    async giveUpDelivery(input: { deliveryId: string; reason: string }): Promise<void> {
      await notify.giveUpDelivery(input.deliveryId, input.reason);
    },
  };
}

export type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;
