/**
 * @module A lock file for work several host processes of one machine may want to do at
 * once (downloading the same asset into a shared cache). Created exclusively; holds
 * `hostname pid` so a lock left by a dead process on this machine is taken over. Waiters
 * watch the folder for the lock's removal (with a slow re-check, as watches can miss
 * events on network file systems).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '../../process-alive.js';

const RECHECK_MS = 1_000;

/** True when the lock was left by a process of this machine that no longer runs. */
async function isStale(lockFile: string): Promise<boolean> {
  const text = await fs.readFile(lockFile, 'utf8').catch(() => '');
  const [host, pid] = text.trim().split(' ');
  return host === os.hostname() && Number(pid) > 0 && !isProcessAlive(Number(pid));
}

async function released(lockFile: string, signal?: AbortSignal): Promise<void> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const recheck = setTimeout(() => stop.abort(), RECHECK_MS);
  try {
    for await (const event of fs.watch(path.dirname(lockFile), { signal: stop.signal })) {
      if (event.filename === path.basename(lockFile)) break;
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  } finally {
    clearTimeout(recheck);
    signal?.removeEventListener('abort', onAbort);
  }
  signal?.throwIfAborted();
}

/** Runs fn while holding lockFile; waits while another process holds it. */
export async function withFileLock<T>(lockFile: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (;;) {
    signal?.throwIfAborted();
    try {
      const handle = await fs.open(lockFile, 'wx');
      await handle.writeFile(`${os.hostname()} ${process.pid}\n`);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (await isStale(lockFile)) await fs.rm(lockFile, { force: true });
      else await released(lockFile, signal);
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockFile, { force: true });
  }
}
