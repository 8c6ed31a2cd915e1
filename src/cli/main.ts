/**
 * @module The `testbay` command: runs one command and exits with its code (exit-codes.ts
 * says which code an error gets).
 */
import { UsageError } from './lab-target.js';
import { commands, usage } from './commands.js';
import { EXIT, failure } from './exit-codes.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? EXIT.usage : 0;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}"\n\n${usage()}`);
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit now rather than wait for stray handles (an IPC channel, native SDK threads).
    process.exit(code);
  },
  (err: unknown) => {
    const { code, message } = failure(err);
    process.stderr.write(`testbay: ${message}\n`);
    process.exitCode = code;
  },
);
