/**
 * @module Per-token quotas at the API: how many submissions one token may make a minute
 * (TESTBAY_SUBMISSIONS_PER_MINUTE), so one team's script cannot flood the lab's queue.
 * Counted in this API process (with several servers, each counts its own share).
 */
import { HttpError } from './http-errors.js';

const WINDOW_MS = 60_000;

export class SubmissionRate {
  private readonly recent = new Map<string, number[]>();

  constructor(private readonly perMinute: number) {}

  /** Counts one submission by `who`, or throws 429 when it made its quota this minute. */
  take(who: string, now = Date.now()): void {
    const times = (this.recent.get(who) ?? []).filter((t) => now - t < WINDOW_MS);
    if (times.length >= this.perMinute) {
      const retryS = Math.ceil((WINDOW_MS - (now - times[0]!)) / 1000);
      throw new HttpError(
        429,
        `${who} made ${times.length} submissions in the last minute, the most a token may (TESTBAY_SUBMISSIONS_PER_MINUTE): try again in ${retryS} s`,
      );
    }
    times.push(now);
    this.recent.set(who, times);
  }
}
