/**
 * @module Whether a process of this machine still runs, for lock files that hold
 * `hostname pid` (the embedded database's, the host's shared caches'): a lock left by a dead
 * process is taken over. EPERM means it runs as another user.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
