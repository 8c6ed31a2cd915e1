/**
 * Runner process groups on this machine: every member found, and found without blocking the
 * event loop (a host stopping one runner goes on heartbeating the others); stopping a group
 * leaves nothing. Also the host's upload-tick setting, which the issue bounds at 2 s.
 */
import { describe, expect, it } from 'vitest';
import { groupMembers, liveMembers, spawnGroup, stopGroup } from '../../src/activities/host/process-group.js';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('a runner process group', () => {
  it('lists its members without blocking the event loop, and stops them all', async () => {
    // A leader with a child that ignores SIGTERM.
    const runner = await spawnGroup(['sh', '-c', 'trap "" TERM; (trap "" TERM; sleep 30) & sleep 30'], { cwd: '/', env: { PATH: process.env.PATH } });
    await new Promise((r) => setTimeout(r, 200));
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const members = await liveMembers(runner.pid);
    clearInterval(ticker);
    expect(members.length).toBeGreaterThanOrEqual(2);
    expect(members.sort()).toEqual(groupMembers(runner.pid).sort());
    // The scan read /proc asynchronously: timers ran while it did.
    expect(turns).toBeGreaterThan(0);

    const stopped = await stopGroup(runner.pid, 300);
    expect(stopped).toEqual({ killed: true, survivors: [] });
    expect(await liveMembers(runner.pid)).toEqual([]);
  });
});

describe('the host upload tick', () => {
  it('is at most 2 s: the issue wants a running job\'s log at least that often', () => {
    expect(loadConfig({ TESTBAY_LOG_FLUSH_MS: '2000' }).host.logFlushMs).toBe(2000);
    expect(() => loadConfig({ TESTBAY_LOG_FLUSH_MS: '5000' })).toThrow(ConfigError);
    expect(() => loadConfig({ TESTBAY_LOG_FLUSH_MS: '5000' })).toThrow(/TESTBAY_LOG_FLUSH_MS: at most 2000/);
  });
});
