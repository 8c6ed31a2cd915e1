/**
 * @module The embedded lab's runner user. `testbay dev` run as root starts its hosts with
 * runners as `testbay-runner`, a system user without a login shell or home that it creates
 * when missing, so a job's runner cannot read the lab's tokens, its data dir or other
 * processes' environments. TESTBAY_RUNNER_USER names another user (`root` keeps runners
 * as root); not as root, runners run as the lab's own user.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

export const EMBEDDED_RUNNER_USER = 'testbay-runner';

const run = (cmd: string, args: string[]) =>
  new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }));
  });

const exists = async (name: string) => (await run('getent', ['passwd', name])).code === 0;

/** The user the embedded lab's runners run as; undefined: the lab's own. */
export async function embeddedRunnerUser(configured: string | undefined): Promise<string | undefined> {
  if (configured !== undefined) return configured;
  if (process.getuid?.() !== 0) return undefined;
  if (await exists(EMBEDDED_RUNNER_USER)) return EMBEDDED_RUNNER_USER;
  const made = await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', EMBEDDED_RUNNER_USER]);
  // Another lab may have created it meanwhile.
  if (made.code !== 0 && !(await exists(EMBEDDED_RUNNER_USER))) throw new Error(`could not create the runner user ${EMBEDDED_RUNNER_USER}: ${made.stderr.trim() || `useradd exited with ${made.code}`} (set TESTBAY_RUNNER_USER to an existing user)`);
  return EMBEDDED_RUNNER_USER;
}

/**
 * The runner user must reach its job dirs (`<data dir>/hosts/<id>/jobs/<job>/`): the data
 * dir and `hosts/` become traversable but not listable (0711), and everything else in the
 * data dir private to the lab's user (umask 077 for what comes; group and other bits off
 * what is there, such as a temporal.db of an earlier run).
 */
export async function letRunnersThrough(dataDir: string): Promise<void> {
  process.umask(0o077);
  const hosts = path.join(dataDir, 'hosts');
  await fs.mkdir(hosts, { recursive: true });
  for (const name of await fs.readdir(dataDir)) {
    const entry = path.join(dataDir, name);
    const stat = await fs.lstat(entry);
    if (name !== 'hosts' && !stat.isSymbolicLink()) await fs.chmod(entry, stat.mode & 0o700);
  }
  await fs.chmod(dataDir, 0o711);
  await fs.chmod(hosts, 0o711);
}
