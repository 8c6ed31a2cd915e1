/**
 * @module The embedded lab's runner user. `testbay dev` run as root starts its hosts with
 * runners as `testbay-runner`, a system user without a login shell or home that it creates
 * when missing, so a job's runner cannot read the lab's tokens, its data dir or other
 * processes' environments. TESTBAY_RUNNER_USER names another user (`root` keeps runners
 * as root); not as root, runners run as the lab's own user. When the runner user cannot
 * reach the data dir (a folder above it is private, say /root), runners run as the lab's
 * user, with a warning; a runner path it cannot reach (the project under /root) is copied
 * into the data dir for it.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

export const EMBEDDED_RUNNER_USER = 'testbay-runner';

const run = (cmd: string, args: string[]) =>
  new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
    );
  });

const exists = async (name: string) => (await run('getent', ['passwd', name])).code === 0;

/** The user the embedded lab's runners run as; undefined: the lab's own. */
export async function embeddedRunnerUser(configured: string | undefined): Promise<string | undefined> {
  if (configured !== undefined) return configured;
  if (process.getuid?.() !== 0) return undefined;
  if (await exists(EMBEDDED_RUNNER_USER)) return EMBEDDED_RUNNER_USER;
  const made = await run('useradd', [
    '--system',
    '--user-group',
    '--no-create-home',
    '--home-dir',
    '/nonexistent',
    '--shell',
    '/usr/sbin/nologin',
    EMBEDDED_RUNNER_USER,
  ]);
  // Another lab may have created it meanwhile.
  if (made.code !== 0 && !(await exists(EMBEDDED_RUNNER_USER)))
    throw new Error(
      `could not create the runner user ${EMBEDDED_RUNNER_USER}: ${made.stderr.trim() || `useradd exited with ${made.code}`} (set TESTBAY_RUNNER_USER to an existing user)`,
    );
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

/** Whether `user` can enter `dir` (every folder above it traversable for it). */
async function canEnter(dir: string, user: string): Promise<boolean> {
  const id = await new Promise<{ uid: number; gid: number } | undefined>((resolve) =>
    execFile('id', ['-u', user], (e1, uid) =>
      execFile('id', ['-g', user], (e2, gid) => resolve(e1 || e2 ? undefined : { uid: Number(uid), gid: Number(gid) })),
    ),
  );
  if (!id) return false;
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', 'cd "$1"', 'sh', dir], {
      uid: id.uid,
      gid: id.gid,
      stdio: 'ignore',
      env: { PATH: '/usr/bin:/bin' },
    });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}

export interface EmbeddedRunners {
  /** the user the hosts run runners as; undefined: the lab's own */
  runnerUser?: string;
  runnerPath: string;
  /** why runners do not run as the runner user after all */
  warning?: string;
}

/**
 * Who the embedded lab's runners run as, and from where: the runner user (created when
 * missing) with the data dir opened for it, or — when it cannot reach the data dir — the
 * lab's own user; the runner path copied into the data dir when the runner user cannot
 * reach it where it is.
 */
export async function embeddedRunners(
  dataDir: string,
  runnerPath: string,
  configured: string | undefined,
): Promise<EmbeddedRunners> {
  const runnerUser = await embeddedRunnerUser(configured);
  if (runnerUser === undefined || runnerUser === 'root') return { ...(runnerUser ? { runnerUser } : {}), runnerPath };
  await letRunnersThrough(dataDir);
  if (!(await canEnter(path.join(dataDir, 'hosts'), runnerUser))) {
    // Named on purpose: its hosts say what is wrong (broken setup). Chosen for the user: run as the lab's.
    if (configured !== undefined) return { runnerUser, runnerPath };
    await fs.chmod(dataDir, 0o700);
    return {
      runnerPath,
      warning: `runners run as root: ${runnerUser} cannot reach the data dir ${dataDir} (a folder above it is not traversable); choose another TESTBAY_DATA_DIR, or chmod o+x the folders above it`,
    };
  }
  if (await canEnter(runnerPath, runnerUser)) return { runnerUser, runnerPath };
  const copy = path.join(dataDir, 'runner-path');
  await fs.rm(copy, { recursive: true, force: true });
  await fs.cp(runnerPath, copy, { recursive: true });
  await fs.chmod(copy, 0o755);
  for (const name of await fs.readdir(copy)) {
    const file = path.join(copy, name);
    await fs.chmod(file, (await fs.stat(file)).mode & 0o100 ? 0o755 : 0o644);
  }
  return { runnerUser, runnerPath: copy };
}
