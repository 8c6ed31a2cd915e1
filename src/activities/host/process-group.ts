/**
 * @module Runner processes as process groups: spawned detached (their own group), stopped
 * with SIGTERM to the whole group and SIGKILL after a grace period, and awaited until no
 * member is left, so nothing a runner forked outlives its job. A process that left the
 * group (`setsid`, a daemon's double fork) is still found by the marker in the environment
 * it inherited (`TESTBAY_JOB_ID=<job>`) and stopped the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunnerProcess {
  child: ChildProcess;
  pid: number;
  /** when the runner started, in clock ticks since boot (/proc/<pid>/stat): processes started before it are not its descendants */
  startTicks: number;
  exited: Promise<Exit>;
  /** resolves when the runner's stdio is closed (all output read) */
  closed: Promise<void>;
}

/**
 * Starts argv[0] with argv[1..] (no shell) as the leader of a new process group.
 * stdout and stderr go to `output` (stderr to `errors` if given); fd 3 is a pipe the runner may write progress lines
 * to, handed to `onProgress`. Both are attached at once: Node drains (and drops) a
 * child's unread output when it exits, so a reader attached later can miss all of it.
 */
export function spawnGroup(
  argv: readonly string[],
  options: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    uid?: number;
    gid?: number;
    output?: NodeJS.WritableStream;
    errors?: NodeJS.WritableStream;
    onProgress?: (stream: Readable) => void;
  },
): Promise<RunnerProcess> {
  const [program, ...args] = argv;
  if (program === undefined) return Promise.reject(new Error('empty command'));
  const child = spawn(program, args, {
    cwd: options.cwd,
    env: options.env,
    // Another user's (the runner user): set before exec, with no supplementary groups.
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  if (options.output) child.stdout?.pipe(options.output, { end: false });
  const errors = options.errors ?? options.output;
  if (errors) child.stderr?.pipe(errors, { end: false });
  const progress = child.stdio[3];
  if (options.onProgress && progress && 'read' in progress) options.onProgress(progress);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => {
      child.off('error', reject);
      const exited = new Promise<Exit>((done) => child.once('exit', (code, signal) => done({ code, signal })));
      const closed = new Promise<void>((done) => child.once('close', () => done()));
      resolve({ child, pid: child.pid!, exited, closed, startTicks: startTicksOf(child.pid!) ?? 0 });
    });
  });
}

/**
 * Live (not zombie) members of a process group, read from /proc, without blocking the event
 * loop: stopping a runner polls this, and a host with many processes must go on heartbeating
 * and uploading other jobs while it scans.
 */
export async function liveMembers(pgid: number): Promise<number[]> {
  // Fast path: no process at all in the group (a zombie would still answer here).
  if (!isGroupAliveBySignal(pgid)) return [];
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return isGroupAliveBySignal(pgid) ? [pgid] : [];
  }
  const pids = entries.filter((e) => /^\d+$/.test(e));
  const members: number[] = [];
  // A few reads at a time: bounded file handles.
  for (let i = 0; i < pids.length; i += 64) {
    const stats = await Promise.all(
      pids.slice(i, i + 64).map((pid) =>
        fs.readFile(`/proc/${pid}/stat`, 'utf8').then(
          (stat) => [pid, stat] as const,
          () => undefined,
        ),
      ),
    );
    for (const found of stats) if (found && isMember(found[1], pgid)) members.push(Number(found[0]));
  }
  return members;
}

/** The same, synchronously: for one-off checks (tests, the reaper before the host takes work), never in a loop. */
export function groupMembers(pgid: number): number[] {
  if (!isGroupAliveBySignal(pgid)) return [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return isGroupAliveBySignal(pgid) ? [pgid] : [];
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (isMember(readFileSync(`/proc/${entry}/stat`, 'utf8'), pgid)) members.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return members;
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
export function startTicksOf(pid: number): number | undefined {
  try {
    return startTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

function startTicks(stat: string): number {
  // after "pid (comm) ": state is field 3, starttime field 22
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/**
 * Live processes outside group `pgid` whose environment carries `marker` (`KEY=value`):
 * a runner's descendants that left its group. Only processes started since `sinceTicks`
 * have their environment read. /proc is read synchronously (a few µs a file: async reads
 * through the thread pool cost four times as much and slow the next job of a chain down),
 * 64 processes at a time with the event loop free in between.
 */
export async function escapedMembers(marker: string, pgid: number, sinceTicks: number): Promise<number[]> {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const pids = entries.filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid);
  const found: number[] = [];
  for (let i = 0; i < pids.length; i += 64) {
    if (i > 0) await new Promise((r) => setImmediate(r));
    for (const pid of pids.slice(i, i + 64)) {
      const stat = readOr(`/proc/${pid}/stat`);
      if (!stat || startTicks(stat) < sinceTicks || isMember(stat, pgid) || !isLive(stat)) continue;
      if (carriesMarker(Number(pid), marker)) found.push(Number(pid));
    }
  }
  return found;
}

/** Whether the process's environment (as it was exec'ed) has `marker` (`KEY=value`). */
export function carriesMarker(pid: number, marker: string): boolean {
  return (readOr(`/proc/${pid}/environ`) ?? '').split('\0').includes(marker);
}

function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Stops a runner's descendants that left its group (see escapedMembers): SIGTERM, then
 * SIGKILL after graceMs to whatever is left. Returns the pids it found.
 */
export async function stopEscaped(
  marker: string,
  pgid: number,
  sinceTicks: number,
  graceMs: number,
): Promise<number[]> {
  const found = await escapedMembers(marker, pgid, sinceTicks);
  if (found.length === 0) return [];
  for (const pid of found) signalPid(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let left = found.filter(isPidLive);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(25);
    left = left.filter(isPidLive);
  }
  for (const pid of left) signalPid(pid, 'SIGKILL');
  return found;
}

/** Whether the process exists and is not a zombie. */
export function isPidLive(pid: number): boolean {
  try {
    return isLive(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function isLive(stat: string): boolean {
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/** A /proc/<pid>/stat line of a live (not zombie) member of the group. */
function isMember(stat: string, pgid: number): boolean {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] = state, fields[2] = pgrp
  return Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X';
}

function isGroupAliveBySignal(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function waitEmpty(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await liveMembers(pgid)).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
}

/**
 * Stops every process of the group: SIGTERM, then SIGKILL to whatever is left after
 * graceMs. Resolves once the group is empty; reports whether SIGKILL was needed.
 */
export async function stopGroup(pgid: number, graceMs: number): Promise<{ killed: boolean; survivors: number[] }> {
  if ((await liveMembers(pgid)).length === 0) return { killed: false, survivors: [] };
  signalGroup(pgid, 'SIGTERM');
  if (await waitEmpty(pgid, graceMs)) return { killed: false, survivors: [] };
  signalGroup(pgid, 'SIGKILL');
  await waitEmpty(pgid, 5_000);
  return { killed: true, survivors: await liveMembers(pgid) };
}
