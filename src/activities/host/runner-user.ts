/**
 * @module The user runners run as, and the job tree it may reach. A host that runs as root
 * with `runnerUser` set starts every runner (and testsCommand) as that unprivileged user:
 * it cannot read the host's token, its environment, its caches or the lab's data dir.
 *
 * The job tree (`<work dir>/jobs/<job>/`) is the host's (mode 0711: traversable, not
 * listable) and holds the host's own files (the log, upload manifests) private; only
 * `work/`, `results/`, `tests/` and the progress file belong to the runner user, and
 * `assets/` is the host's, readable (hard links to read-only cached files). Because a
 * runner cannot rename anything in its job dir, the host's paths there stay its own; what
 * it reads from the runner's dirs it opens without following a symlink and only when the
 * runner user owns it, and it deletes the runner's dirs as the runner user, so no link a
 * runner planted makes the host read or delete anything the runner could not itself.
 *
 * Without a separate runner user (a host that does not run as root, or no `runnerUser`)
 * runners run as the host's own user, and all of this is moot: they can read whatever the
 * host can.
 */
import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface RunnerUser {
  name: string;
  uid: number;
  gid: number;
  /** the user's home dir, when it exists (else runners get their work dir as HOME) */
  home?: string;
  /** true when runners run as another user than the host */
  separate: boolean;
}

export class RunnerUserError extends Error {}

/** The host's own user: runners run as it when no runner user is configured. */
export function ownUser(): RunnerUser {
  const me = os.userInfo();
  return { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir, separate: false };
}

/** A passwd entry by name or uid (`getent`, so NSS users count too). */
async function passwd(key: string): Promise<{ name: string; uid: number; gid: number; home: string } | undefined> {
  const line = await new Promise<string | undefined>((resolve) => {
    execFile('getent', ['passwd', key], { timeout: 10_000 }, (err, stdout) =>
      resolve(err ? undefined : stdout.split('\n')[0]),
    );
  });
  const fields = line?.split(':');
  if (!fields || fields.length < 7) return undefined;
  return { name: fields[0]!, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5]! };
}

/**
 * Resolves `runnerUser` (a name, a uid, or `uid:gid`). Undefined: the host's own user. A
 * user other than the host's own needs the host to run as root.
 */
export async function resolveRunnerUser(spec: string | undefined): Promise<RunnerUser> {
  const me = ownUser();
  if (spec === undefined) return me;
  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec);
  const entry = await passwd(numeric ? numeric[1]! : spec);
  if (!entry && !numeric) throw new RunnerUserError(`runnerUser ${spec}: no such user`);
  const uid = numeric ? Number(numeric[1]) : entry!.uid;
  const gid = numeric?.[2] !== undefined ? Number(numeric[2]) : (entry?.gid ?? uid);
  if (uid === me.uid) return me;
  if (me.uid !== 0)
    throw new RunnerUserError(
      `runnerUser ${spec}: the host must run as root to start runners as another user (it runs as ${me.name})`,
    );
  const home =
    entry?.home &&
    (await fs.stat(entry.home).then(
      (s) => s.isDirectory(),
      () => false,
    ))
      ? entry.home
      : undefined;
  return { name: entry?.name ?? String(uid), uid, gid, ...(home ? { home } : {}), separate: true };
}

/** Spawn options that start a process as the runner user (nothing when it is the host's own). */
export function asUser(user: RunnerUser): { uid?: number; gid?: number } {
  return user.separate ? { uid: user.uid, gid: user.gid } : {};
}

/**
 * The host's work dir for a separate runner user: the work dir and its `jobs/` traversable
 * (0711), everything else of it (caches, runner records) private (0700). The work dir's
 * own parents must be traversable by the runner user too; the setup check says so if not.
 */
export async function prepareWorkDir(workDir: string, user: RunnerUser): Promise<void> {
  await fs.mkdir(path.join(workDir, 'jobs'), { recursive: true });
  const open = user.separate ? 0o711 : 0o700;
  await fs.chmod(workDir, open);
  await fs.chmod(path.join(workDir, 'jobs'), open);
  for (const name of await fs.readdir(workDir)) {
    if (name !== 'jobs') await fs.chmod(path.join(workDir, name), 0o700).catch(() => undefined);
  }
}

/** A fresh job dir of the host's (0711) with the runner's own `work/` and `results/` in it. */
export async function makeJobDir(
  jobDir: string,
  user: RunnerUser,
  runnerDirs: readonly string[] = ['work', 'results'],
): Promise<void> {
  await removeJobDir(jobDir, user);
  await fs.mkdir(jobDir, { recursive: true, mode: 0o711 });
  await fs.chmod(jobDir, user.separate ? 0o711 : 0o700);
  for (const name of runnerDirs) {
    const dir = path.join(jobDir, name);
    await fs.mkdir(dir, { mode: 0o700 });
    if (user.separate) await fs.chown(dir, user.uid, user.gid);
  }
}

/** A file in the job dir the runner may write to (the progress file): created by the host, owned by the runner. */
export async function makeRunnerFile(file: string, user: RunnerUser): Promise<void> {
  await fs.writeFile(file, '', { mode: 0o600 });
  if (user.separate) await fs.chown(file, user.uid, user.gid);
}

/**
 * Gives a tree the host built (a test code checkout) to the runner user: every entry,
 * children before their folder, so the runner can reach none of it before all is its own.
 */
export async function handOver(dir: string, user: RunnerUser): Promise<void> {
  if (!user.separate) return;
  const walk = async (p: string): Promise<void> => {
    const stat = await fs.lstat(p);
    if (stat.isDirectory()) {
      for (const name of await fs.readdir(p)) await walk(path.join(p, name));
    }
    await fs.lchown(p, user.uid, user.gid);
  };
  await walk(dir);
}

/**
 * Removes a job dir. The runner's dirs in it are emptied by the runner user itself (`rm`
 * started as that user): what a runner left there, links included, cannot make the host
 * delete anything the runner could not. Then the host removes the rest, its own.
 */
export async function removeJobDir(jobDir: string, user: RunnerUser): Promise<void> {
  if (!user.separate) {
    await fs.rm(jobDir, { recursive: true, force: true });
    return;
  }
  const entries = await fs.readdir(jobDir).catch(() => [] as string[]);
  const theirs: string[] = [];
  for (const name of entries) {
    const stat = await fs.lstat(path.join(jobDir, name)).catch(() => undefined);
    if (stat?.uid === user.uid && stat.isDirectory()) theirs.push(path.join(jobDir, name));
  }
  if (theirs.length > 0) await emptyAsUser(theirs, user);
  for (const dir of theirs) {
    // Still not empty: something of the runner's is still writing there. Leave the job dir.
    if ((await fs.readdir(dir).catch(() => [])).length > 0)
      throw new Error(`${dir} is not empty after removing it as ${user.name}`);
    await fs.rmdir(dir);
  }
  await fs.rm(jobDir, { recursive: true, force: true });
}

/** Deletes the contents of each dir as the runner user. */
function emptyAsUser(dirs: readonly string[], user: RunnerUser): Promise<void> {
  // `find DIR -mindepth 1 -delete` does not follow links and leaves DIR itself (not the runner's to unlink).
  const script = 'for d in "$@"; do find "$d" -xdev -mindepth 1 -delete 2>/dev/null; done; exit 0';
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', script, 'sh', ...dirs], {
      ...asUser(user),
      stdio: 'ignore',
      env: { PATH: '/usr/bin:/bin' },
    });
    child.once('error', () => resolve());
    child.once('exit', () => resolve());
  });
}

/**
 * Opens a file a runner wrote, for reading: never through a symlink, only a regular file,
 * and (for a separate runner user) only one the runner user owns — not a hard link to or a
 * path through a link to something only the host may read. Throws when it is none of that.
 */
export async function openRunnerFile(
  file: string,
  user: RunnerUser,
): Promise<{ handle: fs.FileHandle; sizeBytes: number; mtimeMs: number }> {
  const handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: 'ENOTREGULAR' });
    if (user.separate && stat.uid !== user.uid)
      throw Object.assign(new Error(`${file} is not the runner user's`), { code: 'EPERM' });
    return { handle, sizeBytes: stat.size, mtimeMs: stat.mtimeMs };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Whether the runner user can write into `dir` (the setup check); undefined when it can, else why not. */
export async function runnerCannotWrite(dir: string, user: RunnerUser): Promise<string | undefined> {
  if (!user.separate) return undefined;
  const probe = path.join(dir, `.runner-probe-${process.pid}`);
  await fs.rm(probe, { recursive: true, force: true });
  await fs.mkdir(probe, { mode: 0o700 });
  await fs.chown(probe, user.uid, user.gid);
  try {
    const ok = await new Promise<boolean>((resolve) => {
      const child = spawn('/bin/sh', ['-c', ': > "$1/ok"', 'sh', probe], {
        ...asUser(user),
        stdio: 'ignore',
        env: { PATH: '/usr/bin:/bin' },
      });
      child.once('error', () => resolve(false));
      child.once('exit', (code) => resolve(code === 0));
    });
    return ok
      ? undefined
      : `runner user ${user.name} cannot reach ${dir}: every folder above it must be traversable by others (chmod o+x)`;
  } finally {
    await fs.rm(probe, { recursive: true, force: true });
  }
}

/** The runner path folders the runner user cannot search (not traversable for it): each a setup problem. */
export async function runnerCannotSearch(dirs: readonly string[], user: RunnerUser): Promise<string[]> {
  if (!user.separate || dirs.length === 0) return [];
  const script = 'for d in "$@"; do [ -x "$d" ] || echo "$d"; done';
  const out = await new Promise<string>((resolve) => {
    execFile(
      '/bin/sh',
      ['-c', script, 'sh', ...dirs],
      { ...asUser(user), env: { PATH: '/usr/bin:/bin' }, timeout: 10_000 },
      (_err, stdout) => resolve(stdout),
    );
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map(
      (dir) =>
        `runner user ${user.name} cannot use the runner path ${dir}: it and every folder above it must be readable and traversable by others`,
    );
}
