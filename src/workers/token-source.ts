/**
 * @module Where a worker process gets its API token: a file readable only by its owner
 * (`TESTBAY_HOST_TOKEN_FILE`, `--token-file`; an inherited fd as `/dev/fd/N` works too) or,
 * for existing deployments, the environment variable itself. Either way every token
 * variable is deleted from `process.env` at once, so nothing the process starts later (the
 * runner guard, git, runners) inherits one.
 *
 * Deleting a variable does not change `/proc/<pid>/environ`, which shows the environment
 * the process was started with: a process of the same user can still read a token that
 * came in the environment. Only a token file keeps it out of every process environment.
 */
import fs from 'node:fs/promises';

/** Variables that hold secrets: a worker removes them all once its config is read. */
export const SECRET_VARIABLES = [
  'TESTBAY_TOKEN',
  'TESTBAY_TOKENS',
  'TESTBAY_HOST_TOKEN',
  'TESTBAY_CONTROL_TOKEN',
  'TEMPORAL_API_KEY',
] as const;

export class TokenSourceError extends Error {}

/** Deletes every secret variable (and the `_FILE` pointers beside them) from `env`. */
export function scrubSecrets(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of SECRET_VARIABLES) {
    delete env[name];
    delete env[`${name}_FILE`];
  }
}

/**
 * The token: read from `file` when given (it must not be readable by group or others),
 * else `fromEnv` (the variable's value as the config read it). Secret variables are
 * scrubbed from `env` in both cases. `what` names the setting in errors.
 */
export async function takeToken(options: {
  what: string;
  file?: string | undefined;
  fromEnv?: string | undefined;
  env?: NodeJS.ProcessEnv;
}): Promise<string | undefined> {
  scrubSecrets(options.env ?? process.env);
  if (options.file === undefined) return options.fromEnv;
  return readTokenFile(options.file, options.what);
}

/** A token file's first line. A regular file must have mode 0600 or stricter; a pipe (`/dev/fd/N`) is read as it is. */
export async function readTokenFile(file: string, what: string): Promise<string> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    throw new TokenSourceError(`${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const stat = await handle.stat();
    if (stat.isFile() && (stat.mode & 0o077) !== 0) {
      throw new TokenSourceError(
        `${what} ${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}): chmod 600 ${file}`,
      );
    }
    const token = (await handle.readFile('utf8')).split('\n')[0]!.trim();
    if (token === '') throw new TokenSourceError(`${what} ${file} is empty`);
    return token;
  } finally {
    await handle.close();
  }
}

/** Writes a token file only its owner can read (also when it existed with a looser mode). */
export async function writeTokenFile(file: string, token: string): Promise<void> {
  await fs.writeFile(file, `${token}\n`, { mode: 0o600 });
  await fs.chmod(file, 0o600);
}
