/**
 * @module The runner's status lines: JSON objects, one a line, on fd TESTBAY_PROGRESS_FD
 * or appended to the file TESTBAY_PROGRESS_FILE (for shell runners):
 * `{"module": "boot", "percent": 20, "message": "…"}`, `{"abort": "reason"}`, `{"extendMs": 1800000}`, and a
 * finished test `{"test": {"name": "boot", "status": "passed", "durationMs": 812}}`.
 * Anything else is ignored.
 */
import { watch, type FSWatcher } from 'node:fs';
import fs from 'node:fs/promises';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import type { TestCaseResult } from '../../api/store/result-store.js';
import type { Progress } from '../../domain/job-run.js';
import { makeRunnerFile, type RunnerUser } from './runner-user.js';

export interface ProgressLine {
  /** set when the line says where the runner is */
  progress?: Progress;
  abort?: string;
  test?: TestCaseResult;
  /** a batch runner began this test: `{"testStarted": "<id>"}` */
  testStarted?: string;
  /** the runner asks for more time: `{"extendMs": 1800000}` */
  extendMs?: number;
}

const STATUSES = new Set<TestCaseResult['status']>(['passed', 'failed', 'error', 'skipped']);
/** A line longer than this is not a status line (and would only cost memory). */
const MAX_LINE = 64 * 1024;

function parseTest(v: unknown): TestCaseResult | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const t = v as Record<string, unknown>;
  if (typeof t.name !== 'string' || t.name.length === 0 || !STATUSES.has(t.status as TestCaseResult['status']))
    return undefined;
  const test: TestCaseResult = { name: t.name.slice(0, 500), status: t.status as TestCaseResult['status'] };
  if (typeof t.classname === 'string') test.classname = t.classname.slice(0, 500);
  if (typeof t.durationMs === 'number' && t.durationMs >= 0) test.durationMs = Math.round(t.durationMs);
  if (typeof t.message === 'string') test.message = t.message.slice(0, 10_000);
  return test;
}

/** One status line, or undefined when it is not one. */
export function parseProgressLine(raw: string): ProgressLine | undefined {
  if (raw.length > MAX_LINE) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const line: ProgressLine = {};
  const progress: Progress = {};
  if (typeof o.module === 'string') progress.module = o.module.slice(0, 200);
  if (typeof o.percent === 'number' && o.percent >= 0 && o.percent <= 100) progress.percent = o.percent;
  if (typeof o.message === 'string') progress.message = o.message.slice(0, 1000);
  if (Object.keys(progress).length > 0) line.progress = progress;
  if (typeof o.abort === 'string') line.abort = o.abort.slice(0, 1000);
  const test = parseTest(o.test);
  if (test) line.test = test;
  if (typeof o.testStarted === 'string' && o.testStarted.length > 0) line.testStarted = o.testStarted.slice(0, 500);
  if (typeof o.extendMs === 'number' && Number.isInteger(o.extendMs) && o.extendMs > 0) line.extendMs = o.extendMs;
  return Object.keys(line).length > 0 ? line : undefined;
}

/** Reads status lines from a stream (the runner's fd 3) until it closes. */
export async function readProgressStream(stream: Readable, onLine: (line: ProgressLine) => void): Promise<void> {
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  for await (const raw of lines) {
    const line = parseProgressLine(raw);
    if (line) onLine(line);
  }
}

/**
 * Follows a file the runner appends status lines to: read when the file system says it
 * changed, and whenever `read()` is called (the upload tick, the end), since watches can
 * miss events. Only complete lines are taken.
 */
export class ProgressFile {
  private offset = 0;
  private partial = '';
  private watcher: FSWatcher | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly onLine: (line: ProgressLine) => void,
  ) {}

  /** Creates the (empty) file, the runner user's to write, and starts watching it. */
  async start(user?: RunnerUser): Promise<void> {
    if (user) await makeRunnerFile(this.file, user);
    else await fs.writeFile(this.file, '');
    try {
      this.watcher = watch(this.file, () => void this.read());
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // no watch: the upload tick still reads it
    }
  }

  /** Takes every complete line written since the last read. */
  read(): Promise<void> {
    this.reading = this.reading.then(() => this.readNow()).catch(() => undefined);
    return this.reading;
  }

  async close(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    await this.read();
  }

  private async readNow(): Promise<void> {
    const handle = await fs.open(this.file, 'r').catch(() => undefined);
    if (!handle) return;
    try {
      for (;;) {
        const buffer = Buffer.alloc(64 * 1024);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        const text = this.partial + buffer.subarray(0, bytesRead).toString('utf8');
        const lines = text.split('\n');
        this.partial = lines.pop() ?? '';
        if (this.partial.length > MAX_LINE) this.partial = '';
        for (const raw of lines) {
          const line = parseProgressLine(raw);
          if (line) this.onLine(line);
        }
      }
    } finally {
      await handle.close();
    }
  }
}
