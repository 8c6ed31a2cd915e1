/**
 * @module Keeps `testbay dev`'s processes running: each part is started by a function of
 * its own, and once the lab is up (`superviseFromNow`) a part that fails is logged with its
 * exit code or signal and started again after the policy's backoff (restart-policy.ts
 * decides), while every other part runs on. A part that keeps failing is left down with a
 * message saying so. Before that, during start-up, an exit is only recorded: the lab fails
 * to start with it (a port in use is better said at once than retried).
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../logger.js';
import {
  decideRestart,
  describeEnd,
  NO_FAILURES,
  type ProcessEnd,
  type RestartHistory,
  type RestartPolicy,
} from './restart-policy.js';

/** One started process of a part. */
export interface Running {
  pid: number | undefined;
  /** resolves once, when the process has ended */
  ended: Promise<ProcessEnd>;
  /** stops it cleanly (and for good: no restart follows) */
  stop(): Promise<void>;
}

export interface Part {
  name: string;
  start(): Promise<Running>;
}

export type PartState = 'running' | 'restarting' | 'down' | 'stopped';

interface Supervised {
  part: Part;
  state: PartState;
  running: Running | undefined;
  startedAt: number;
  history: RestartHistory;
  restarts: number;
  lastEnd: ProcessEnd | undefined;
  timer: NodeJS.Timeout | undefined;
  starting: Promise<void> | undefined;
  stopping: boolean;
}

/** How a child process ended, also when it ended before anyone asked. */
export function endOf(child: ChildProcess): Promise<ProcessEnd> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // A process that could not be spawned emits no exit.
    child.once('error', (err) => {
      if (child.pid === undefined) resolve({ error: err.message });
    });
  });
}

export class Supervisor {
  private readonly parts = new Map<string, Supervised>();
  /** starting up: ends are only recorded; supervising: failed parts restart; closing: the lab stops */
  private mode: 'starting-up' | 'supervising' | 'closing' = 'starting-up';

  constructor(
    private readonly log: Logger,
    private readonly policy: RestartPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts a part; throws when its first start fails. */
  async add(part: Part): Promise<void> {
    if (this.parts.has(part.name)) throw new Error(`${part.name} is supervised already`);
    const s: Supervised = {
      part,
      state: 'running',
      running: undefined,
      startedAt: 0,
      history: NO_FAILURES,
      restarts: 0,
      lastEnd: undefined,
      timer: undefined,
      starting: undefined,
      stopping: false,
    };
    this.parts.set(part.name, s);
    try {
      await this.start(s);
    } catch (err) {
      s.state = 'down';
      throw err;
    }
  }

  /** From now on a failed part is restarted instead of only recorded. */
  superviseFromNow(): void {
    if (this.mode !== 'starting-up') return;
    this.mode = 'supervising';
    // A part that ended between the last check and now is handled as if it ended now.
    for (const s of this.parts.values()) if (s.state === 'down' && s.lastEnd && !s.stopping) this.ended(s, s.lastEnd);
  }

  /** The lab is stopping: no more restarts (an end is only recorded, a pending restart is dropped). */
  stopRestarting(): void {
    this.mode = 'closing';
  }

  /** The first part that ended before supervision began (start-up fails with it). */
  endedDuringStartUp(): { name: string; how: string } | undefined {
    if (this.mode !== 'starting-up') return undefined;
    for (const s of this.parts.values())
      if (s.state === 'down' && s.lastEnd) return { name: s.part.name, how: describeEnd(s.lastEnd) };
    return undefined;
  }

  status(): { name: string; state: PartState; pid: number | undefined; restarts: number }[] {
    return [...this.parts.values()].map((s) => ({
      name: s.part.name,
      state: s.state,
      pid: s.state === 'running' ? s.running?.pid : undefined,
      restarts: s.restarts,
    }));
  }

  /** Stops the named parts (all at once) for good: a pending restart is called off, one under way is stopped once it is up. */
  async stop(names: string[]): Promise<void> {
    await Promise.all(
      names.map(async (name) => {
        const s = this.parts.get(name);
        if (!s || s.stopping) return;
        s.stopping = true;
        clearTimeout(s.timer);
        await s.starting;
        if (s.running) await s.running.stop();
        s.state = 'stopped';
      }),
    );
  }

  names(): string[] {
    return [...this.parts.keys()];
  }

  private async start(s: Supervised): Promise<void> {
    const attempt = (async () => {
      const startedAt = this.now();
      const running = await s.part.start();
      s.running = running;
      s.startedAt = startedAt;
      s.state = 'running';
      void running.ended.then((end) => this.ended(s, end));
    })();
    s.starting = attempt.catch(() => undefined);
    try {
      await attempt;
    } finally {
      s.starting = undefined;
    }
  }

  private ended(s: Supervised, end: ProcessEnd): void {
    s.lastEnd = end;
    s.running = undefined;
    s.state = 'down';
    if (s.stopping || this.mode !== 'supervising') return;
    const name = s.part.name;
    const how = describeEnd(end);
    const decision = decideRestart(s.history, { startedAt: s.startedAt, endedAt: this.now(), end }, this.policy);
    s.history = decision.history;
    if (decision.action === 'leave-down') {
      this.log.warn(`${name} exited cleanly (${how}); not restarted (only failures are), the lab goes on without it`, {
        part: name,
      });
      return;
    }
    if (decision.action === 'give-up') {
      this.log.error(
        `${name} failed ${decision.failures} times within ${this.policy.windowMs / 1000} s (last: ${how}); leaving it down, the lab goes on without it (restart testbay dev to bring it back)`,
        { part: name },
      );
      return;
    }
    s.state = 'restarting';
    const what = 'error' in end ? `${name} could not start (${end.error})` : `${name} exited unexpectedly (${how})`;
    this.log.warn(`${what}; restarting it in ${formatDelay(decision.delayMs)}`, { part: name });
    s.timer = setTimeout(() => void this.restart(s), decision.delayMs);
  }

  private async restart(s: Supervised): Promise<void> {
    s.timer = undefined;
    if (s.stopping || this.mode !== 'supervising') return;
    s.restarts += 1;
    try {
      await this.start(s);
      this.log.info(`${s.part.name} is running again`, {
        part: s.part.name,
        pid: s.running?.pid,
        restarts: s.restarts,
      });
      // Stopped while it started: stop() waited for this start and stops it.
    } catch (err) {
      if (s.stopping) return;
      s.startedAt = this.now();
      this.ended(s, { error: err instanceof Error ? err.message.split('\n')[0]! : String(err) });
    }
  }
}

function formatDelay(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
