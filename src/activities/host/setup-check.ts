/**
 * @module The host's own setup check, run before it polls for work: every runner-path
 * folder exists, every required command is on the runner PATH, the work and cache dirs
 * are writable and have free space. A problem here would abort every job the host took,
 * one after another; found up front, the host registers as broken with the reason instead.
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface SetupNeeds {
  workDir: string;
  cacheDir: string;
  runnerPath: readonly string[];
  /** commands that must be found on the runner PATH (runner path, then the host's PATH) */
  requireCommands: readonly string[];
  minFreeBytes: number;
  /** the host's PATH (default: this process's) */
  hostPath?: string;
}

const gib = (bytes: number) => `${Math.round((bytes / 1024 ** 3) * 10) / 10} GiB`;

/** Every problem found, each a sentence an operator can act on; empty when the setup is fine. */
export async function checkSetup(needs: SetupNeeds): Promise<string[]> {
  const problems: string[] = [];
  for (const dir of needs.runnerPath) {
    const stat = await fs.stat(dir).catch(() => undefined);
    if (!stat) problems.push(`runner path ${dir} does not exist`);
    else if (!stat.isDirectory()) problems.push(`runner path ${dir} is not a directory`);
  }
  const searchPath = [
    ...needs.runnerPath,
    ...(needs.hostPath ?? process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
  ];
  for (const command of needs.requireCommands) {
    if (!(await findCommand(command, searchPath)))
      problems.push(`required command \`${command}\` is not on the runner PATH`);
  }
  const devicesChecked = new Set<number>();
  for (const [what, dir] of [
    ['work dir', path.join(needs.workDir, 'jobs')],
    ['cache dir', needs.cacheDir],
  ] as const) {
    const writable = await probeWritable(dir);
    if (writable !== true) {
      problems.push(`${what} ${dir} is not writable: ${writable}`);
      continue;
    }
    const { dev } = await fs.stat(dir);
    if (devicesChecked.has(dev)) continue;
    devicesChecked.add(dev);
    const fsStats = await fs.statfs(dir);
    const free = fsStats.bavail * fsStats.bsize;
    if (free < needs.minFreeBytes)
      problems.push(
        `only ${gib(free)} free for the ${what} ${dir} (TESTBAY_MIN_FREE_BYTES wants ${gib(needs.minFreeBytes)})`,
      );
  }
  return problems;
}

async function probeWritable(dir: string): Promise<true | string> {
  try {
    await fs.mkdir(dir, { recursive: true });
    const probe = path.join(dir, `.probe-${process.pid}`);
    await fs.writeFile(probe, 'ok');
    await fs.rm(probe);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

/** The command's path if it is an executable file (a name with a slash is taken as a path). */
export async function findCommand(command: string, searchPath: readonly string[]): Promise<string | undefined> {
  const candidates = command.includes('/') ? [path.resolve(command)] : searchPath.map((dir) => path.join(dir, command));
  for (const candidate of candidates) {
    try {
      await fs.access(candidate, constants.X_OK);
      if ((await fs.stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
