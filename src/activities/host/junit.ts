/**
 * @module Per-test results from the JUnit XML (`*.xml` with <testcase> elements, nested
 * <testsuites> included) and TAP (`*.tap`) files a runner writes into its results dir, and
 * directly in one level of subfolders. They are parsed in a worker thread
 * (results-worker.js), so a large file never blocks the host's event loop, and within
 * limits: the files of one job together at most `maxBytes`, at most `maxTestcases` tests.
 * Past either a job's results are too large: its own fault, never the host's.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { TestCaseResult } from '../../api/store/result-store.js';
import type { TestSummary } from '../../domain/outcome.js';
import type { RunnerUser } from './runner-user.js';

export interface ResultsLimits {
  /** JUnit and TAP files together */
  maxBytes: number;
  maxTestcases: number;
}

/** The results are past a limit: the job is aborted results-too-large. */
export class ResultsTooLargeError extends Error {}

const WORKER = new URL('./results-worker.js', import.meta.url);
const mib = (bytes: number) => `${Math.round((bytes / 1024 ** 2) * 10) / 10} MiB`;

interface Reply {
  id: number;
  cases?: TestCaseResult[];
  tooLarge?: { what: 'bytes'; bytes: number; file: string } | { what: 'testcases'; count: number; file: string };
  error?: string;
}

/** One worker per host process, started on first use; parses one request at a time. */
class ResultsWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private memoryMb = 0;

  request(body: { files: string[]; uid?: number; maxBytes: number; maxTestcases: number }): Promise<Reply> {
    // Parsed XML costs several times its size: room for the limit, and no more.
    const memoryMb = Math.max(256, Math.ceil((body.maxBytes / 1024 ** 2) * 16));
    const worker = this.start(memoryMb);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...body });
    });
  }

  private start(memoryMb: number): Worker {
    if (this.worker && this.memoryMb >= memoryMb) return this.worker;
    void this.worker?.terminate();
    const worker = new Worker(WORKER, { resourceLimits: { maxOldGenerationSizeMb: memoryMb } });
    this.memoryMb = memoryMb;
    // An idle reader must not keep the host process alive.
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      p?.resolve(reply);
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the results reader stopped (exit ${code})`)));
    this.worker = worker;
    return worker;
  }
}

const reader = new ResultsWorker();

/** The result files directly in `dir` and one level of subfolders (no symlinks), sorted. */
async function resultFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  const wanted = (name: string) => /\.(xml|tap)$/i.test(name);
  for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isFile() && wanted(e.name)) files.push(path.join(dir, e.name));
    if (e.isDirectory()) {
      for (const sub of await fs.readdir(path.join(dir, e.name), { withFileTypes: true }).catch(() => [])) {
        if (sub.isFile() && wanted(sub.name)) files.push(path.join(dir, e.name, sub.name));
      }
    }
  }
  return files.sort();
}

/**
 * Parses every JUnit and TAP file in `dir`. Throws ResultsTooLargeError past the limits;
 * files that are not JUnit or not complete yet are skipped (they are still artifacts).
 */
export async function readTestResults(
  dir: string,
  limits: ResultsLimits,
  user?: RunnerUser,
): Promise<TestCaseResult[]> {
  const files = await resultFiles(dir);
  if (files.length === 0) return [];
  let reply: Reply;
  try {
    reply = await reader.request({
      files,
      ...(user?.separate ? { uid: user.uid } : {}),
      maxBytes: limits.maxBytes,
      maxTestcases: limits.maxTestcases,
    });
  } catch (err) {
    // The worker died (out of memory on a pathological file): the results are too much to read.
    throw new ResultsTooLargeError(
      `the JUnit/TAP files could not be read within the host's limits: ${(err as Error).message}`,
    );
  }
  const rel = (file: string) => path.relative(dir, file);
  if (reply.tooLarge?.what === 'bytes') {
    throw new ResultsTooLargeError(
      `JUnit/TAP files of ${mib(reply.tooLarge.bytes)} or more (at ${rel(reply.tooLarge.file)}), above TESTBAY_MAX_RESULTS_BYTES (${mib(limits.maxBytes)})`,
    );
  }
  if (reply.tooLarge?.what === 'testcases') {
    throw new ResultsTooLargeError(
      `more than ${limits.maxTestcases} testcases (at ${rel(reply.tooLarge.file)}), above TESTBAY_MAX_TESTCASES`,
    );
  }
  if (reply.error !== undefined) throw new Error(`reading test results: ${reply.error}`);
  return reply.cases ?? [];
}

export function summarizeTests(cases: readonly TestCaseResult[]): TestSummary | undefined {
  if (cases.length === 0) return undefined;
  return {
    total: cases.length,
    failed: cases.filter((c) => c.status === 'failed').length,
    errors: cases.filter((c) => c.status === 'error').length,
    skipped: cases.filter((c) => c.status === 'skipped').length,
    failedNames: cases.filter((c) => c.status === 'failed' || c.status === 'error').map((c) => c.name),
  };
}
