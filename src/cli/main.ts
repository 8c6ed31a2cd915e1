/**
 * @module The `testbay` command. Exit codes: 0 passed, 1 failed, 2 bad input or usage,
 * 3 aborted or cancelled, 4 cannot reach the server.
 */
import { ApiError, ApiUnreachable } from '../api/client.js';
import { ConfigError } from '../config.js';
import { formatIssue } from '../domain/parse-spec.js';
import { UsageError } from './lab-target.js';
import { commands, usage } from './commands.js';

export const EXIT = { passed: 0, failed: 1, usage: 2, aborted: 3, unreachable: 4 } as const;

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
    if (err instanceof ApiError) {
      process.stderr.write(`testbay: ${err.message}\n`);
      for (const issue of err.issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
      process.exitCode = err.status === 400 || err.status === 404 || err.status === 409 || err.status === 413 ? EXIT.usage : err.status === 503 ? EXIT.unreachable : EXIT.usage;
    } else if (err instanceof ApiUnreachable) {
      process.stderr.write(`testbay: ${err.message}\n`);
      process.exitCode = EXIT.unreachable;
    } else if (err instanceof UsageError || err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`testbay: ${(err as Error).message}\n`);
      process.exitCode = EXIT.usage;
    } else {
      process.stderr.write(`testbay: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
