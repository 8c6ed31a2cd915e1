/**
 * @module A job's per-test results as they come: tests the runner reported finished on its
 * status channel, and the JUnit XML and TAP files in its results dir (read again whenever
 * one of them changed). File results replace status-line results of the same test name.
 * The status-line results are kept in the job dir so the final upload has them too. Past
 * the host's limits (file bytes, number of tests) the results are too large: `tooLarge`
 * says why, and nothing more is read.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TestCaseResult } from '../../api/store/result-store.js';
import { readTestResults, ResultsTooLargeError, type ResultsLimits } from './junit.js';
import type { RunnerUser } from './runner-user.js';

const REPORTED_FILE = 'reported-tests.json';

/** What identifies the JUnit files' current content: names, sizes and times. */
async function junitStamp(dir: string): Promise<string> {
  const parts: string[] = [];
  const visit = async (sub: string, depth: number) => {
    for (const e of await fs.readdir(path.join(dir, sub), { withFileTypes: true }).catch(() => [])) {
      const rel = path.join(sub, e.name);
      if (e.isFile() && /\.(xml|tap)$/i.test(e.name)) {
        const s = await fs.lstat(path.join(dir, rel)).catch(() => undefined);
        if (s) parts.push(`${rel}:${s.size}:${s.mtimeMs}`);
      } else if (e.isDirectory() && depth === 0) {
        await visit(rel, 1);
      }
    }
  };
  await visit('', 0);
  return parts.sort().join('|');
}

export function mergeTests(junit: readonly TestCaseResult[], reported: readonly TestCaseResult[]): TestCaseResult[] {
  const named = new Set(junit.map((t) => t.name));
  return [...junit, ...reported.filter((t) => !named.has(t.name))];
}

export class TestResults {
  private readonly reported = new Map<string, TestCaseResult>();
  private junit: TestCaseResult[] = [];
  private stamp = '';
  /** bumped on every change, so uploads know when there is something new */
  version = 0;
  /** set once the results passed a limit: why (the job is aborted results-too-large) */
  tooLarge: string | undefined;

  constructor(
    private readonly jobDir: string,
    private readonly resultsDir: string,
    private readonly limits: ResultsLimits,
    private readonly user?: RunnerUser,
  ) {}

  /** A test the runner reported finished (a later report of the same test replaces it). */
  report(test: TestCaseResult): void {
    const key = `${test.classname ?? ''}\0${test.name}`;
    if (!this.reported.has(key) && this.reported.size >= this.limits.maxTestcases) {
      this.tooLarge ??= `more than ${this.limits.maxTestcases} tests reported on the status channel, above TESTBAY_MAX_TESTCASES`;
      return;
    }
    this.reported.set(key, test);
    this.version++;
  }

  /** Reads the result files again if any changed. */
  async refresh(): Promise<void> {
    if (this.tooLarge !== undefined) return;
    const stamp = await junitStamp(this.resultsDir);
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    try {
      this.junit = await readTestResults(this.resultsDir, this.limits, this.user);
    } catch (err) {
      if (!(err instanceof ResultsTooLargeError)) throw err;
      this.tooLarge = err.message;
      this.junit = [];
    }
    this.version++;
  }

  all(): TestCaseResult[] {
    const all = mergeTests(this.junit, [...this.reported.values()]);
    if (all.length > this.limits.maxTestcases) {
      this.tooLarge ??= `${all.length} tests, above TESTBAY_MAX_TESTCASES (${this.limits.maxTestcases})`;
      return all.slice(0, this.limits.maxTestcases);
    }
    return all;
  }

  /** Keeps the status-line results for the final upload (another activity). */
  async save(): Promise<void> {
    if (this.reported.size > 0)
      await fs.writeFile(path.join(this.jobDir, REPORTED_FILE), JSON.stringify([...this.reported.values()]));
  }
}

/** Every per-test result of a finished job: its result files and what its runner reported (none when they are too large). */
export async function collectTests(
  jobDir: string,
  resultsDir: string,
  limits: ResultsLimits,
  user?: RunnerUser,
): Promise<TestCaseResult[]> {
  const reported = await fs
    .readFile(path.join(jobDir, REPORTED_FILE), 'utf8')
    .then((t) => JSON.parse(t) as TestCaseResult[])
    .catch(() => []);
  const files = await readTestResults(resultsDir, limits, user).catch((err: unknown) => {
    if (err instanceof ResultsTooLargeError) return undefined;
    throw err;
  });
  const all = files ? mergeTests(files, reported) : [];
  return all.length > limits.maxTestcases ? [] : all;
}
