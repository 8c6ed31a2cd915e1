/**
 * @module The order of runs on one host. A chain queues its next job's runTests behind the
 * current one; the host starts it the moment the current runner's result is known (or
 * skips it, when its parent did not pass), with no round trip through Temporal between.
 */
import type { JobResult } from '../../domain/outcome.js';

interface Pending {
  promise: Promise<JobResult>;
  resolve: (result: JobResult) => void;
}

/** Results of recent runs on this host, and waiters for runs not ended yet. */
export class RunGate {
  private readonly runs = new Map<string, Pending>();

  private entry(jobId: string): Pending {
    let pending = this.runs.get(jobId);
    if (!pending) {
      let resolve!: (result: JobResult) => void;
      const promise = new Promise<JobResult>((r) => (resolve = r));
      pending = { promise, resolve };
      this.runs.set(jobId, pending);
      // Keep the map small: runs of long ago are no longer waited for.
      if (this.runs.size > 500) this.runs.delete(this.runs.keys().next().value!);
    }
    return pending;
  }

  /** Resolves with the job's runner result once it is known on this host. */
  ended(jobId: string): Promise<JobResult> {
    return this.entry(jobId).promise;
  }

  finish(jobId: string, result: JobResult): void {
    this.entry(jobId).resolve(result);
  }
}
