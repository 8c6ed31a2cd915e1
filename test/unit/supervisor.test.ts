/**
 * The supervisor of `testbay dev` (src/cli/supervisor.ts) with parts that are promises, not
 * processes: during start-up an end is only recorded; once supervising, a failed part is
 * restarted after the backoff while the others run on, one that keeps failing is left down
 * with a message, a clean exit is not restarted, and stopping calls off a pending restart.
 */
import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/logger.js';
import type { ProcessEnd, RestartPolicy } from '../../src/cli/restart-policy.js';
import { Supervisor, type Part, type Running } from '../../src/cli/supervisor.js';
import { waitFor } from '../helpers/lab.js';

const policy: RestartPolicy = { firstDelayMs: 20, maxDelayMs: 100, resetAfterMs: 60_000, limit: 3, windowMs: 60_000 };
const killed: ProcessEnd = { code: null, signal: 'SIGKILL' };

/** A part whose runs the test ends by hand; `failStarts` makes that many starts throw. */
function fakePart(name: string, options: { failStarts?: number; startMs?: number } = {}) {
  const runs: { end: (e: ProcessEnd) => void; stopped: boolean }[] = [];
  let failStarts = options.failStarts ?? 0;
  const part: Part = {
    name,
    start: async (): Promise<Running> => {
      if (options.startMs) await sleep(options.startMs);
      if (failStarts > 0) {
        failStarts--;
        throw new Error('port in use\nmore detail');
      }
      let end!: (e: ProcessEnd) => void;
      const ended = new Promise<ProcessEnd>((resolve) => (end = resolve));
      const run = { end, stopped: false };
      runs.push(run);
      return {
        pid: 1000 + runs.length,
        ended,
        stop: async () => {
          run.stopped = true;
          end({ code: 0, signal: null });
          await ended;
        },
      };
    },
  };
  return { part, runs };
}

function setUp() {
  const lines: string[] = [];
  const supervisor = new Supervisor(
    createLogger('dev', 'info', (l) => lines.push(l)),
    policy,
  );
  return { supervisor, lines };
}

describe('supervisor', () => {
  it('during start-up an end is only recorded, and start-up can fail with it', async () => {
    const { supervisor } = setUp();
    const api = fakePart('api');
    await supervisor.add(api.part);
    expect(supervisor.endedDuringStartUp()).toBeUndefined();
    api.runs[0]!.end({ code: 1, signal: null });
    await sleep(50);
    expect(supervisor.endedDuringStartUp()).toEqual({ name: 'api', how: 'exit code 1' });
    expect(api.runs).toHaveLength(1);
  });

  it('a first start that fails throws', async () => {
    const { supervisor } = setUp();
    await expect(supervisor.add(fakePart('api', { failStarts: 1 }).part)).rejects.toThrow(/port in use/);
  });

  it('restarts a failed part after the backoff, with its signal in the log, while the others run on', async () => {
    const { supervisor, lines } = setUp();
    const host = fakePart('local-1');
    const other = fakePart('local-2');
    await supervisor.add(host.part);
    await supervisor.add(other.part);
    supervisor.superviseFromNow();
    host.runs[0]!.end(killed);
    await waitFor('the restart', () => host.runs.length === 2, 2_000, 5);
    expect(lines.join('')).toMatch(
      /WARN {2}dev: local-1 exited unexpectedly \(signal SIGKILL\); restarting it in 20 ms/,
    );
    expect(lines.join('')).toMatch(/INFO {2}dev: local-1 is running again .*pid=1002 restarts=1/);
    expect(other.runs).toHaveLength(1);
    expect(other.runs[0]!.stopped).toBe(false);
    expect(supervisor.status()).toEqual([
      { name: 'local-1', state: 'running', pid: 1002, restarts: 1 },
      { name: 'local-2', state: 'running', pid: 1001, restarts: 0 },
    ]);
  });

  it('an end between start-up and supervision is handled when supervision begins', async () => {
    const { supervisor } = setUp();
    const host = fakePart('local-1');
    await supervisor.add(host.part);
    host.runs[0]!.end(killed);
    await sleep(10);
    supervisor.superviseFromNow();
    await waitFor('the restart', () => host.runs.length === 2, 2_000, 5);
  });

  it('leaves a part down after the limit of failures, saying so, and the others run on', async () => {
    const { supervisor, lines } = setUp();
    const host = fakePart('local-3');
    const other = fakePart('api');
    await supervisor.add(host.part);
    await supervisor.add(other.part);
    supervisor.superviseFromNow();
    for (let n = 1; n <= 3; n++) {
      await waitFor(`run ${n}`, () => host.runs.length === n, 2_000, 5);
      host.runs[n - 1]!.end({ code: 1, signal: null });
    }
    await waitFor('the give-up', () => lines.some((l) => l.includes('ERROR')), 2_000, 5);
    expect(lines.join('')).toMatch(
      /ERROR dev: local-3 failed 3 times within 60 s \(last: exit code 1\); leaving it down, the lab goes on without it/,
    );
    await sleep(300);
    expect(host.runs).toHaveLength(3);
    expect(supervisor.status().map((p) => p.state)).toEqual(['down', 'running']);
  });

  it('a restart that cannot start counts as a failure and is tried again', async () => {
    const { supervisor, lines } = setUp();
    const flaky = fakePart('control');
    await supervisor.add(flaky.part);
    supervisor.superviseFromNow();
    // The next start throws once, then works.
    const start = flaky.part.start.bind(flaky.part);
    let thrown = false;
    flaky.part.start = () => {
      if (!thrown) {
        thrown = true;
        return Promise.reject(new Error('Temporal is not up'));
      }
      return start();
    };
    flaky.runs[0]!.end(killed);
    await waitFor('the second restart', () => flaky.runs.length === 2, 2_000, 5);
    expect(lines.join('')).toMatch(/control could not start \(Temporal is not up\); restarting it in 40 ms/);
  });

  it('a clean exit is not restarted', async () => {
    const { supervisor, lines } = setUp();
    const host = fakePart('local-1');
    await supervisor.add(host.part);
    supervisor.superviseFromNow();
    host.runs[0]!.end({ code: 0, signal: null });
    await sleep(100);
    expect(host.runs).toHaveLength(1);
    expect(lines.join('')).toMatch(/local-1 exited cleanly \(exit code 0\); not restarted/);
  });

  it('stop calls off a pending restart, and stops a part whose restart is under way once it is up', async () => {
    const { supervisor } = setUp();
    const waiting = fakePart('local-1');
    const slow = fakePart('temporal', { startMs: 100 });
    await supervisor.add(waiting.part);
    await supervisor.add(slow.part);
    supervisor.superviseFromNow();
    waiting.runs[0]!.end(killed);
    slow.runs[0]!.end(killed);
    // The slow part's restart begins after 20 ms and takes 100 ms; stop in between.
    await sleep(5);
    await supervisor.stop(['local-1']);
    await sleep(40);
    await supervisor.stop(['temporal']);
    expect(waiting.runs).toHaveLength(1);
    expect(slow.runs).toHaveLength(2);
    expect(slow.runs[1]!.stopped).toBe(true);
    expect(supervisor.status().map((p) => p.state)).toEqual(['stopped', 'stopped']);
    await sleep(100);
    expect(slow.runs).toHaveLength(2);
  });

  it('once the lab stops, a part that fails meanwhile is not restarted', async () => {
    const { supervisor } = setUp();
    const control = fakePart('control');
    await supervisor.add(control.part);
    supervisor.superviseFromNow();
    supervisor.stopRestarting();
    control.runs[0]!.end(killed);
    await sleep(100);
    expect(control.runs).toHaveLength(1);
    expect(supervisor.endedDuringStartUp()).toBeUndefined();
  });
});
