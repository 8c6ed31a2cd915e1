/**
 * @module A host's configuration file (`testbay host --config FILE`, YAML or JSON): id,
 * worker classes, pool, capabilities, folders, runner path, required commands, the token file,
 * the user runners run as, and where assets may come from. Flags given on the command
 * line are merged over it: they replace single values (id, folders, token file, runner
 * user, pool), add to lists (classes, runner path, required commands) and override capabilities
 * by key.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { POOL_PATTERN } from '../../domain/ids.js';

const capValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);
/** An argv array run on the host (never a shell string). */
const argv = z
  .array(
    z
      .string()
      .min(1)
      .refine((s) => !s.includes('\0'), 'cannot contain a NUL byte'),
  )
  .min(1, 'needs at least the program to run');
const list = z.union([
  z.string().transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  ),
  z.array(z.string().min(1)),
]);

/** A host's address as its partners' runners get it: a name or an IP address, nothing a shell could misread. */
export const hostAddress = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9:._-]+$/, 'must be a host name or an IP address');

export const hostConfigSchema = z.strictObject({
  id: z.string().min(1).optional(),
  classes: list.optional(),
  /** the pool (one scheduler) the host registers with; `default` when none is given */
  pool: z
    .string()
    .regex(
      POOL_PATTERN,
      'must start with a letter or digit and use only letters, digits, ".", "_" and "-" (at most 63 characters)',
    )
    .optional(),
  caps: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a capability name'), capValue).optional(),
  workDir: z.string().min(1).optional(),
  cacheDir: z.string().min(1).optional(),
  runnerPath: list.optional(),
  requireCommands: list.optional(),
  /** a file holding the host token (mode 0600); instead of TESTBAY_HOST_TOKEN */
  tokenFile: z.string().min(1).optional(),
  /** where partners reach this host (TESTBAY_PARTNERS): a name or an IP; default its first non-loopback IPv4 */
  address: hostAddress.optional(),
  /** the user runners run as: a name or a uid (the host must run as root to switch) */
  runnerUser: z.string().min(1).optional(),
  /** run at provisioning with the job's env (reimage, power-cycle the machine under test); failure aborts (provision) and breaks the host */
  provisionCommand: argv.optional(),
  /** run after an infrastructure abort, before the next lease; failure breaks the host with its output */
  recoverCommand: argv.optional(),
  /** `testbay power HOST on|off|cycle` runs it with that word appended */
  powerCommand: argv.optional(),
  /** run when a reservation of this host starts and ends (argv arrays), e.g. to add the keys to an account and remove them */
  reserve: z
    .strictObject({
      startCommand: z.array(z.string().min(1)).min(1, 'needs at least the program to run').optional(),
      endCommand: z.array(z.string().min(1)).min(1, 'needs at least the program to run').optional(),
      /** a hook still running after this is stopped */
      timeoutMs: z.number().int().positive().max(3_600_000).optional(),
    })
    .optional(),
  assets: z
    .strictObject({
      /** URL patterns assets may come from: `https://*`, `http://mirror.lab:8080/images/`, `file:///srv/assets/` */
      allow: list.optional(),
      /** the largest asset this host downloads */
      maxBytes: z.number().int().positive().optional(),
      /** all assets of one job together */
      maxJobBytes: z.number().int().positive().optional(),
    })
    .optional(),
});
export type HostConfigFile = z.output<typeof hostConfigSchema>;

export class HostConfigError extends Error {}

/** Reads and validates a host config file; relative paths in it are relative to the file. */
export async function loadHostConfigFile(file: string): Promise<HostConfigFile> {
  let raw: unknown;
  try {
    raw = parseYaml(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new HostConfigError(`--config ${file}: ${(err as Error).message}`);
  }
  const parsed = hostConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new HostConfigError(
      `--config ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`,
    );
  }
  const base = path.dirname(path.resolve(file));
  const resolve = (p: string) => path.resolve(base, p);
  const config = parsed.data;
  return {
    ...config,
    ...(config.workDir ? { workDir: resolve(config.workDir) } : {}),
    ...(config.cacheDir ? { cacheDir: resolve(config.cacheDir) } : {}),
    ...(config.runnerPath ? { runnerPath: config.runnerPath.map(resolve) } : {}),
    ...(config.tokenFile ? { tokenFile: resolve(config.tokenFile) } : {}),
  };
}

/** The file's settings with the command line's merged over them. */
export function mergeHostConfig(file: HostConfigFile, flags: HostConfigFile): HostConfigFile {
  const union = (a: string[] = [], b: string[] = []) => [...new Set([...a, ...b])];
  const merged: HostConfigFile = {
    classes: union(file.classes, flags.classes),
    caps: { ...file.caps, ...flags.caps },
    runnerPath: union(file.runnerPath, flags.runnerPath),
    requireCommands: union(file.requireCommands, flags.requireCommands),
  };
  const id = flags.id ?? file.id;
  const workDir = flags.workDir ?? file.workDir;
  const cacheDir = flags.cacheDir ?? file.cacheDir;
  const tokenFile = flags.tokenFile ?? file.tokenFile;
  const runnerUser = flags.runnerUser ?? file.runnerUser;
  const pool = flags.pool ?? file.pool;
  if (pool !== undefined) merged.pool = pool;
  const address = flags.address ?? file.address;
  if (address !== undefined) merged.address = address;
  const assets = file.assets || flags.assets ? { ...file.assets, ...flags.assets } : undefined;
  if (tokenFile !== undefined) merged.tokenFile = tokenFile;
  if (runnerUser !== undefined) merged.runnerUser = runnerUser;
  if (assets !== undefined) merged.assets = assets;
  if (file.reserve !== undefined) merged.reserve = file.reserve;
  if (id !== undefined) merged.id = id;
  if (workDir !== undefined) merged.workDir = workDir;
  if (cacheDir !== undefined) merged.cacheDir = cacheDir;
  // Hooks come only from the file.
  for (const hook of ['provisionCommand', 'recoverCommand', 'powerCommand'] as const)
    if (file[hook]) merged[hook] = file[hook];
  return merged;
}
