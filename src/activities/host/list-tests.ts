/**
 * @module listTests: runs a batch run's testsCommand on this host (argv, never a shell
 * string) and returns the test ids it printed, one per line.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { ApplicationFailure } from '@temporalio/activity';
import { ErrorType } from '../../domain/errors.js';
import type { HostDeps } from './deps.js';
import { runnerEnv } from './runner-env.js';

const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 5 * 60_000;

export function createListTests(deps: HostDeps) {
  return async function listTests(input: { command: string[]; settings: Record<string, string>; hostId: string; batchRunName: string; submissionId: string }): Promise<string[]> {
    const [program, ...args] = input.command;
    const run = { jobId: `${input.submissionId}.list`, jobName: input.batchRunName, submissionId: input.submissionId, hostId: input.hostId, attempt: 1, leaseToken: '', runner: { command: input.command }, settings: input.settings, timeoutMs: TIMEOUT_MS, provisionTimeoutMs: 0, assets: [] };
    const env = runnerEnv(run, { workDir: os.tmpdir(), resultsDir: os.tmpdir() }, deps.runnerPath);
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(program!, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: TIMEOUT_MS });
      const chunks: Buffer[] = [];
      let size = 0;
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_OUTPUT_BYTES) child.kill('SIGKILL');
        else chunks.push(d);
      });
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      child.once('error', reject);
      child.once('close', (code, signal) => {
        if (code === 0) resolve(Buffer.concat(chunks).toString('utf8'));
        else reject(new Error(`testsCommand ${JSON.stringify(input.command)} ended with ${signal ?? `code ${code}`}: ${stderr.trim()}`));
      });
    }).catch((err: unknown) => {
      throw ApplicationFailure.create({ type: ErrorType.TestCode, message: (err as Error).message, nonRetryable: true });
    });
    const ids = [...new Set(output.split('\n').map((l) => l.trim()).filter(Boolean))];
    if (ids.length === 0) throw ApplicationFailure.create({ type: ErrorType.TestCode, message: `testsCommand ${JSON.stringify(input.command)} printed no test ids`, nonRetryable: true });
    return ids;
  };
}
