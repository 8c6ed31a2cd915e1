/**
 * @module listTests: runs a batch run's testsCommand on this host (argv, never a shell
 * string) as its own process group, and keeps the test ids it printed (one per line) in
 * a file on the host. It returns only their count and how they split into chunks;
 * readListedTests hands the workflow one chunk at a time, which it moves to the result
 * store, so 100,000 ids never pass through Temporal in one payload.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { PassThrough } from 'node:stream';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { LIST_CHUNK_BYTES, MAX_BATCH_TESTS, type ListedTests } from '../../domain/batch-work.js';
import { ErrorType } from '../../domain/errors.js';
import type { HostDeps } from './deps.js';
import type { Exit } from './process-group.js';
import { runnerEnv } from './runner-env.js';
import { makeJobDir } from './runner-user.js';
import { RunnerSession } from './runner-session.js';

const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 5 * 60_000;
const TEST_ID = /^\S{1,300}$/;

export interface ListTestsInput {
  command: string[];
  settings: Record<string, string>;
  hostId: string;
  batchRunName: string;
  submissionId: string;
  /** the batch run's id: the listing lives under `<work dir>/jobs/<runJobId>.list/` */
  runJobId: string;
}

const fail = (message: string) => ApplicationFailure.create({ type: ErrorType.TestCode, message, nonRetryable: true });

export function createListTests(deps: HostDeps) {
  return async function listTests(input: ListTestsInput): Promise<ListedTests> {
    const ctx = Context.current();
    const dir = path.join(deps.workDir, 'jobs', `${input.runJobId}.list`);
    // The listing stays the host's; the command runs (maybe as the runner user) in work/.
    await makeJobDir(dir, deps.runnerUser, ['work']);
    const workDir = path.join(dir, 'work');
    const run = {
      jobId: `${input.runJobId}.list`,
      jobName: input.batchRunName,
      submissionId: input.submissionId,
      hostId: input.hostId,
      attempt: 1,
      leaseToken: '',
      runner: { command: input.command },
      settings: input.settings,
      timeoutMs: TIMEOUT_MS,
      provisionTimeoutMs: 0,
      assets: [],
    };
    const env = runnerEnv(run, { workDir, resultsDir: workDir }, deps.runnerPath, deps.runnerUser);
    const what = `testsCommand ${JSON.stringify(input.command)}`;

    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let tooBig = false;
    const stdout = new PassThrough();
    const errors = new PassThrough();
    stdout.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_OUTPUT_BYTES) tooBig = true;
      else chunks.push(d);
    });
    errors.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const session = await RunnerSession.open<{ why: 'stopped'; reason: string }>(deps, {
      id: run.jobId,
      label: 'testsCommand',
      logFields: { job: run.jobId },
    });
    // Recorded like a runner: the guard and the reaper stop it if this host dies.
    const e = await session.spawn(input.command, { cwd: workDir, env, output: stdout, errors });
    if (e) throw fail(`${what} could not start: ${e.code ?? e.message}`);
    // Stopped as a whole group: on cancel, timeout or too much output.
    const stopIt = (reason: string) => session.stop({ why: 'stopped', reason });
    session.after(TIMEOUT_MS, () => stopIt(`timed out after ${TIMEOUT_MS / 1000} s`));
    session.heartbeat(() => {
      ctx.heartbeat();
      if (tooBig) stopIt(`printed more than ${MAX_OUTPUT_BYTES} bytes`);
    });
    session.onCancel(() => stopIt('cancelled'));
    let exit: Exit;
    try {
      exit = await session.wait();
    } finally {
      session.close();
      await session.forget();
    }
    const stoppedWhy = session.stopped?.reason ?? (tooBig ? `printed more than ${MAX_OUTPUT_BYTES} bytes` : undefined);
    if (stoppedWhy !== undefined) throw fail(`${what} ${stoppedWhy}`);
    if (exit.code !== 0) throw fail(`${what} ended with ${exit.signal ?? `code ${exit.code}`}: ${stderr.trim()}`);

    const seen = new Set<string>();
    const ids: string[] = [];
    for (const raw of Buffer.concat(chunks).toString('utf8').split('\n')) {
      const id = raw.trim();
      if (id === '' || seen.has(id)) continue;
      if (!TEST_ID.test(id))
        throw fail(
          `${what} printed ${JSON.stringify(id.slice(0, 80))}: a test id is 1 to 300 characters without white space`,
        );
      seen.add(id);
      ids.push(id);
    }
    if (ids.length === 0) throw fail(`${what} printed no test ids`);
    if (ids.length > MAX_BATCH_TESTS)
      throw fail(`${what} printed ${ids.length} test ids, more than the ${MAX_BATCH_TESTS} a batch run takes`);

    const listFile = path.join(dir, 'tests.txt');
    await fs.writeFile(listFile, `${ids.join('\n')}\n`);
    return { count: ids.length, listFile, chunks: chunkIds(ids) };
  };
}

/** Splits ids into chunks of at most LIST_CHUNK_BYTES as JSON (quotes and commas included). */
export function chunkIds(ids: readonly string[], maxBytes = LIST_CHUNK_BYTES): { offset: number; count: number }[] {
  const out: { offset: number; count: number }[] = [];
  let start = 0;
  let bytes = 0;
  ids.forEach((id, i) => {
    const cost = Buffer.byteLength(id) + 3;
    if (i > start && bytes + cost > maxBytes) {
      out.push({ offset: start, count: i - start });
      start = i;
      bytes = 0;
    }
    bytes += cost;
  });
  if (ids.length > start) out.push({ offset: start, count: ids.length - start });
  return out;
}

/** One chunk of a listing this host keeps (lines offset .. offset + count). */
export function createReadListedTests(deps: HostDeps) {
  return async function readListedTests(input: { listFile: string; offset: number; count: number }): Promise<string[]> {
    // Only a listing of this host's own, never any file the caller names.
    const file = path.resolve(input.listFile);
    if (
      !file.startsWith(path.join(path.resolve(deps.workDir), 'jobs') + path.sep) ||
      path.basename(file) !== 'tests.txt'
    ) {
      throw fail(`${input.listFile} is not a test listing of host ${deps.hostId}`);
    }
    const ids: string[] = [];
    let line = 0;
    const lines = readline.createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    try {
      for await (const id of lines) {
        if (line >= input.offset + input.count) break;
        if (line >= input.offset && id !== '') ids.push(id);
        line++;
      }
    } catch (err) {
      throw fail(`the listing of this batch run is gone from host ${deps.hostId}: ${(err as Error).message}`);
    } finally {
      lines.close();
    }
    return ids;
  };
}
