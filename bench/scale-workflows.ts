/**
 * The workflows of bench/scale: the product's scheduler, and a requester that stands in
 * for many recipe sets. It asks the scheduler for its share of the bench's lease requests
 * through the product's lease client (at most `window` waiting at once), holds each
 * grant for `holdMs` (a job that takes no time), releases it, and returns when each
 * request was sent and granted (workflow time).
 */
import { condition, sleep, workflowInfo } from '@temporalio/workflow';
import { onLeaseAnswers, releaseLease, requestLease, type LeaseGrant } from '../src/workflows/lease-client.js';

export { schedulerWorkflow } from '../src/workflows/scheduler.js';

const SEND_BATCH = 25;

export interface ScaleRequest {
  requestId: string;
  workerClass: string;
  priority: number;
}

export interface ScaleRequesterInput {
  requests: ScaleRequest[];
  holdMs: number;
  /** requests waiting in the scheduler's queue at once, from this requester */
  window: number;
}

export interface ScaleRequesterResult {
  /** per request: [sent, granted] in epoch ms (workflow time) */
  times: Record<string, [number, number]>;
  denied: number;
}

export async function scaleRequesterWorkflow(input: ScaleRequesterInput): Promise<ScaleRequesterResult> {
  const me = workflowInfo().workflowId;
  const sentAt = new Map<string, number>();
  const times: Record<string, [number, number]> = {};
  let denied = 0;
  let waiting = 0;
  const holding: Promise<void>[] = [];
  onLeaseAnswers({
    granted: (g: LeaseGrant) => {
      const sent = sentAt.get(g.requestId);
      if (sent === undefined || times[g.requestId]) return;
      times[g.requestId] = [sent, Date.now()];
      waiting--;
      holding.push(
        sleep(input.holdMs)
          .then(() => Promise.all(g.leases.map((l) => releaseLease(undefined, l.hostId, l.token))))
          .then(() => undefined),
      );
    },
    denied: () => {
      denied++;
      waiting--;
    },
  });
  // Requests go out in batches of SEND_BATCH signals, a workflow task each: hundreds of
  // signals in one task take longer than the task timeout on a loaded machine.
  let next = 0;
  while (next < input.requests.length) {
    await condition(() => waiting < input.window);
    const sends: Promise<void>[] = [];
    while (waiting < input.window && next < input.requests.length && sends.length < SEND_BATCH) {
      const r = input.requests[next++]!;
      waiting++;
      sentAt.set(r.requestId, Date.now());
      sends.push(
        requestLease(undefined, {
          requestId: r.requestId,
          requester: me,
          label: `bench ${r.requestId}`,
          priority: r.priority,
          recipes: [{ workerClass: r.workerClass, hostRequires: [], excludedHosts: [], previousHosts: [] }],
        }),
      );
    }
    await Promise.all(sends);
  }
  await condition(() => waiting === 0);
  await Promise.all(holding);
  return { times, denied };
}
