/**
 * @module PresenceWatch: the host's side of its presence. The scheduler starts a presence
 * activity on the host's task queue when the host registers; a presence the host never
 * picks up (its task queue's polls were refused or slow, as when a thousand hosts start at
 * once) times out on the scheduler's side, which then takes the host offline, and the host
 * would never hear of it: no activity ran, so no cancellation reached it. So the host
 * expects its presence within a while of each registration and registers again when it
 * did not come. Each registration in a row that gets no presence doubles the wait (at most
 * MAX_WAIT_MS), so that a host whose scheduler is down for a while does not queue a
 * registration every minute for it; and the wait is spread by ±20 %, so that the hosts of a
 * lab whose presences all failed at once do not all register again in the same second.
 */
const MAX_WAIT_MS = 10 * 60_000;

export class PresenceWatch {
  private readonly started = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private wait: number;

  /**
   * @param waitMs how long after a registration its presence may take to start (the first time)
   * @param onMissing called with the registration's instance id when it did not start
   * @param random a number in [0, 1) for the spread (Math.random; fixed in tests)
   */
  constructor(
    private readonly waitMs: number,
    private readonly onMissing: (instanceId: string) => void,
    private readonly random: () => number = Math.random,
  ) {
    this.wait = waitMs;
  }

  /** A registration of `instanceId` was sent: its presence is due within waitMs. */
  registered(instanceId: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        if (this.started.has(instanceId)) return;
        this.wait = Math.min(this.wait * 2, Math.max(MAX_WAIT_MS, this.waitMs));
        this.onMissing(instanceId);
      },
      this.wait * (0.8 + 0.4 * this.random()),
    );
    this.timer.unref();
  }

  /** The presence of `instanceId` started on this host. */
  presenceStarted(instanceId: string): void {
    this.started.add(instanceId);
    this.wait = this.waitMs;
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
