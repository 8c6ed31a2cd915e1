/**
 * @module Sending to another workflow that may have ended, and work nobody waits for,
 * without leaving a promise unhandled. In workflow code an unhandled rejection fails the
 * workflow task, which Temporal retries for ever: the workflow looks stuck. A signal to a
 * child or partner that has completed is rejected ("not found"), and that only means the
 * target ended. So every signal whose outcome the sender does not act on goes through
 * `signalIfRunning`, and every promise nobody awaits through `inBackground`.
 */
import { ApplicationFailure, isCancellation, log, type SignalDefinition } from '@temporalio/workflow';

/** Anything signals can be sent through: a child's handle or an external workflow's. */
interface Signallable<Args extends unknown[]> {
  signal(def: SignalDefinition<Args>, ...args: Args): Promise<void>;
}

/** The failure type Temporal reports for a signal or cancel to a workflow that is not running. */
export const TARGET_ENDED = 'ExternalWorkflowExecutionNotFound';

/** True when the error says the target workflow is not running (completed, failed, terminated, or never existed). */
export function isTargetEnded(err: unknown): boolean {
  return err instanceof ApplicationFailure && err.type === TARGET_ENDED;
}

/**
 * Sends a signal; resolves true when it was delivered, false when the target had ended
 * (or the sender's scope was cancelled, or delivery failed otherwise: logged). Never rejects.
 */
export async function signalIfRunning<Args extends unknown[]>(
  target: Signallable<Args>,
  def: SignalDefinition<Args>,
  ...args: Args
): Promise<boolean> {
  try {
    await target.signal(def, ...args);
    return true;
  } catch (err) {
    if (!isTargetEnded(err) && !isCancellation(err))
      log.warn('could not deliver a signal', { signal: def.name, error: String(err) });
    return false;
  }
}

/** Sends a signal nobody waits for; the target may have ended (see signalIfRunning). */
export function tell<Args extends unknown[]>(
  target: Signallable<Args>,
  def: SignalDefinition<Args>,
  ...args: Args
): void {
  inBackground(signalIfRunning(target, def, ...args), `signal ${def.name}`);
}

/**
 * Runs `p` without anyone awaiting it: a rejection is logged as an error (it is a bug:
 * whatever can fail on purpose handles its own failure) instead of failing the task.
 */
export function inBackground(p: Promise<unknown>, what: string): void {
  p.then(undefined, (err: unknown) => {
    if (!isCancellation(err)) log.error(`${what} failed`, { error: String(err) });
  });
}

/**
 * Promises a workflow must see settled before it ends (records being written, leases
 * handed back), none of which may be left unhandled meanwhile. `drain` waits for all,
 * including those added while it waits, and rethrows the first failure.
 */
export class Pending {
  private readonly promises = new Set<Promise<unknown>>();
  private failure: { err: unknown } | undefined;

  add(p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      (err: unknown) => {
        this.failure ??= { err };
      },
    );
    this.promises.add(settled);
    inBackground(
      settled.finally(() => this.promises.delete(settled)),
      'pending work',
    );
  }

  get size(): number {
    return this.promises.size;
  }

  async drain(): Promise<void> {
    while (this.promises.size > 0) await Promise.all([...this.promises]);
    if (this.failure) throw this.failure.err;
  }
}
