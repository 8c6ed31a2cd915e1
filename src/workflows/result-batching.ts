/**
 * @module resultBatching: a chain's final results on their way to the store, in batches
 * (domain/chain.ts `ResultBatches`): whatever ended while the last batch was on its way goes
 * in the next. Each batch is sent outside any cancellation, after the job records are open,
 * and is settled with the chain's other background work before the lease goes back.
 */
import { CancellationScope } from '@temporalio/workflow';
import { ResultBatches } from '../domain/chain.js';
import type { Pending } from './signal.js';

/** Returns `finish(item)`: queues a final result and sends a batch when none is in flight. */
export function resultBatching<T>(
  send: (batch: T[]) => Promise<unknown>,
  opened: Promise<unknown>,
  background: Pending,
): (item: T) => void {
  const batches = new ResultBatches<T>();
  const flush = () => {
    const batch = batches.take();
    if (!batch) return;
    background.add(
      CancellationScope.nonCancellable(async () => {
        await opened;
        await send(batch);
      }).finally(() => {
        batches.sent();
        flush();
      }),
    );
  };
  return (item) => {
    batches.add(item);
    flush();
  };
}
