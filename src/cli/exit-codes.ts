/**
 * @module The CLI's exit codes, and which one an error gets. 0 passed, 1 failed, 2 bad
 * input or usage (and a token the API refused), 3 aborted or cancelled, 4 no verdict: the
 * server cannot be reached, answered with a server error (5xx), or something unexpected
 * went wrong. CI reads 1 as "a test failed", so nothing but a test failure exits 1.
 */
import { ApiError, ApiUnreachable } from '../api/client.js';
import { ConfigError } from '../config.js';
import { formatIssue } from '../domain/parse-spec.js';
import { UsageError } from './lab-target.js';

export const EXIT = { passed: 0, failed: 1, usage: 2, aborted: 3, unreachable: 4 } as const;

/** What the CLI says and exits with when a command throws. */
export function failure(err: unknown): { code: number; message: string } {
  if (err instanceof ApiError) {
    const issues = err.issues.map((issue) => `\n  ${formatIssue(issue)}`).join('');
    if (err.status === 401)
      return {
        code: EXIT.usage,
        message: `the API refused the token (401: ${err.message}): set TESTBAY_TOKEN to a submit or operate token of this server${issues}`,
      };
    if (err.status === 403)
      return {
        code: EXIT.usage,
        message: `the token may not do this (403: ${err.message}): use a token with the needed role${issues}`,
      };
    if (err.status >= 500)
      return { code: EXIT.unreachable, message: `server error (${err.status}): ${err.message}${issues}` };
    return { code: EXIT.usage, message: `${err.message}${issues}` };
  }
  if (err instanceof ApiUnreachable) return { code: EXIT.unreachable, message: err.message };
  if (
    err instanceof UsageError ||
    err instanceof ConfigError ||
    (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
  ) {
    return { code: EXIT.usage, message: (err as Error).message };
  }
  // Not a verdict on the tests: a broken connection mid-stream, a reply that is not what
  // the API sends, a bug. Exit 4 like an unreachable server, never 1 (a test failure).
  return {
    code: EXIT.unreachable,
    message: `unexpected error (no verdict): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  };
}
