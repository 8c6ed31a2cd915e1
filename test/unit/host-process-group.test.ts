/**
 * Runner process groups on this machine: every member found, and found without blocking the
 * event loop (a host stopping one runner goes on heartbeating the others); stopping a group
 * leaves nothing. Also the host's upload-tick setting, which the issue bounds at 2 s.
 */
import { mkdtempSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { reapStaleRunners } from '../../src/activities/host/reaper.js';
import {
  escapedMembers,
  groupMembers,
  liveMembers,
  spawnGroup,
  startTicksOf,
  stopEscaped,
  stopGroup,
  isPidLive as alive,
} from '../../src/activities/host/process-group.js';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('a runner process group', () => {
  it('lists its members without blocking the event loop, and stops them all', async () => {
    // A leader with a child that ignores SIGTERM.
    const runner = await spawnGroup(['sh', '-c', 'trap "" TERM; (trap "" TERM; sleep 30) & sleep 30'], {
      cwd: '/',
      env: { PATH: process.env.PATH },
    });
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

describe('a runner descendant that left the group', () => {
  it('is found by the marker in its environment and stopped, and a process started before the runner is left alone', async () => {
    const marker = `TESTBAY_JOB_ID=unit${process.pid}.1`;
    const env = { PATH: process.env.PATH, TESTBAY_JOB_ID: marker.split('=')[1] };
    // Same marker, but started before the runner: not its descendant.
    const bystander = await spawnGroup(['sleep', '30'], { cwd: '/', env });
    await new Promise((r) => setTimeout(r, 50));
    // The runner starts a child in a session of its own that ignores SIGTERM, prints its pid, and exits.
    const out: Buffer[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, done) => (out.push(c), done()) });
    const runner = await spawnGroup(
      ['sh', '-c', 'setsid sh -c \'trap "" TERM; exec sleep 30\' </dev/null >/dev/null 2>&1 3>&- & echo $!'],
      { cwd: '/', env, output: sink },
    );
    await runner.exited;
    await runner.closed;
    await stopGroup(runner.pid, 300);
    const pid = Number(Buffer.concat(out).toString().trim());
    await new Promise((r) => setTimeout(r, 100));
    expect(startTicksOf(pid)).toBeGreaterThanOrEqual(runner.startTicks);
    expect(groupMembers(runner.pid)).toEqual([]);
    expect(await escapedMembers(marker, runner.pid, runner.startTicks)).toEqual([pid]);

    expect(await stopEscaped(marker, runner.pid, runner.startTicks, 300)).toEqual([pid]);
    await new Promise((r) => setTimeout(r, 100));
    // Gone, or a zombie waiting for whoever adopted it to reap it.
    expect(alive(pid)).toBe(false);
    expect(groupMembers(bystander.pid)).toEqual([bystander.pid]);
    await stopGroup(bystander.pid, 300);
  });
});

describe('the reaper at host start', () => {
  it('stops a runner group a dead host left behind, and its descendants that left the group', async () => {
    const workDir = mkdtempSync(path.join(os.tmpdir(), 'reaper-'));
    const jobId = `reap${process.pid}.1`;
    const env = { PATH: process.env.PATH, TESTBAY_JOB_ID: jobId };
    const out: Buffer[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, done) => (out.push(c), done()) });
    const runner = await spawnGroup(
      [
        'sh',
        '-c',
        'setsid sh -c \'trap "" TERM; exec sleep 30\' </dev/null >/dev/null 2>&1 3>&- & echo $!; exec sleep 30',
      ],
      { cwd: '/', env, output: sink },
    );
    await new Promise((r) => setTimeout(r, 200));
    const escaped = Number(Buffer.concat(out).toString().trim());
    // What rememberRunner leaves on disk for a job in flight.
    await fs.mkdir(path.join(workDir, 'runners'));
    await fs.writeFile(path.join(workDir, 'runners', `${jobId}.pid`), String(runner.pid));
    await fs.writeFile(path.join(workDir, 'runners', `${jobId}.start`), String(runner.startTicks));
    expect(alive(runner.pid) && alive(escaped)).toBe(true);

    expect(await reapStaleRunners(workDir, 300)).toEqual([jobId]);
    await new Promise((r) => setTimeout(r, 100));
    expect(groupMembers(runner.pid)).toEqual([]);
    expect(alive(escaped)).toBe(false);
    expect(await fs.readdir(path.join(workDir, 'runners'))).toEqual([]);
    await fs.rm(workDir, { recursive: true, force: true });
  });
});

describe('the host upload tick', () => {
  it("is at most 2 s: the issue wants a running job's log at least that often", () => {
    expect(loadConfig({ TESTBAY_LOG_FLUSH_MS: '2000' }).host.logFlushMs).toBe(2000);
    expect(() => loadConfig({ TESTBAY_LOG_FLUSH_MS: '5000' })).toThrow(ConfigError);
    expect(() => loadConfig({ TESTBAY_LOG_FLUSH_MS: '5000' })).toThrow(/TESTBAY_LOG_FLUSH_MS: at most 2000/);
  });
});
