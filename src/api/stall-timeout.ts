/**
 * @module A timeout on no progress for one HTTP request of the API client: it aborts when
 * nothing moved for its limit — no request bytes taken, no response headers, no response
 * bytes — rather than after a total duration, so a hung server is left in seconds while a
 * gigabyte artifact on a slow link is never cut as long as its bytes keep going.
 */

/** The reason a request was aborted: its server did not move for `limitMs`. */
export class StallTimeout extends Error {
  constructor(readonly limitMs: number) {
    super(`no answer for ${formatMs(limitMs)}`);
  }
}

export class StallTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout;
  private limit: number;

  constructor(limitMs: number) {
    this.limit = limitMs;
    this.timer = setTimeout(() => this.fire(), limitMs);
  }

  /** Aborted when the timer fires. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get timedOut(): boolean {
    return this.controller.signal.reason instanceof StallTimeout;
  }

  /** Something moved: the limit starts again. */
  progress(): void {
    if (!this.controller.signal.aborted) this.timer.refresh();
  }

  /** From now on, `limitMs` without progress (a followed log waits longer between its keep-alives). */
  setLimit(limitMs: number): void {
    this.limit = limitMs;
    clearTimeout(this.timer);
    if (!this.controller.signal.aborted) this.timer = setTimeout(() => this.fire(), limitMs);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private fire(): void {
    this.controller.abort(new StallTimeout(this.limit));
  }
}

export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
