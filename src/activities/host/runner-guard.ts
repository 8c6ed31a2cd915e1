/**
 * @module The runner guard: a host killed with SIGKILL (or crashing) cannot stop its
 * runners, so each host process keeps one small watchdog process beside it, in its own
 * process group, that knows the runner groups in flight. The host holds the write end of
 * the watchdog's stdin; when the host dies the kernel closes it, and the watchdog stops
 * every group still listed. So a dead host leaves no runner behind, even if it never
 * comes back (the reaper in reaper.ts covers a guard that died too).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const GUARD_SCRIPT = fileURLToPath(new URL('./runner-guard.js', import.meta.url));

let guard: ChildProcess | undefined;

function guardProcess(graceMs: number): ChildProcess | undefined {
  if (guard && guard.exitCode === null && guard.signalCode === null) return guard;
  try {
    // Nothing of the host's environment (its token above all): the guard needs none of it.
    const child = spawn(process.execPath, [GUARD_SCRIPT, String(graceMs)], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    // Neither the guard nor its pipe keep the host's event loop alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    child.stdin?.on('error', () => {
      // the guard died: the reaper (at the host's next start) is the fallback
    });
    child.once('exit', () => {
      if (guard === child) guard = undefined;
    });
    guard = child;
    return child;
  } catch {
    return undefined;
  }
}

/**
 * The guard stops this group if the host dies before `unguardGroup`, and the processes
 * that left it but carry `marker` in their environment (started since `startTicks`).
 */
export function guardGroup(pgid: number, graceMs: number, marker: string, startTicks: number): void {
  guardProcess(graceMs)?.stdin?.write(`+${pgid} ${startTicks} ${marker}\n`);
}

export function unguardGroup(pgid: number): void {
  if (guard?.stdin?.writable) guard.stdin.write(`-${pgid}\n`);
}
