/**
 * @module The `testbay` command on a runner's PATH: a job of a recipe set calls `testbay
 * barrier`, `send` and `receive` (src/cli/partners.ts), so the host puts a small shim in
 * front of the runner's PATH that runs this installation's CLI with this Node. Written at
 * every host start (the installation may have moved), readable by the runner user.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../temporal/binary.js';

const quoted = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Writes `<workDir>/bin/testbay`; returns the folder to put in front of the runners' PATH. */
export async function installCliShim(workDir: string, nodePath: string = process.execPath): Promise<string> {
  const dir = path.join(workDir, 'bin');
  await fs.mkdir(dir, { recursive: true });
  await fs.chmod(dir, 0o755);
  const file = path.join(dir, 'testbay');
  const text = `#!/bin/sh\n# testbay for runners (barrier, send, receive); the host writes this file at start\nexec ${quoted(nodePath)} ${quoted(path.join(PROJECT_ROOT, 'bin', 'testbay.js'))} "$@"\n`;
  await fs.writeFile(`${file}.tmp`, text, { mode: 0o755 });
  await fs.chmod(`${file}.tmp`, 0o755);
  await fs.rename(`${file}.tmp`, file);
  return dir;
}
