/**
 * @module A job's per-test results as they come: tests the runner reported finished on its
 * status channel, and the JUnit XML files in its results dir (read again whenever one of
 * them changed). JUnit results replace status-line results of the same test name. The
 * status-line results are kept in the job dir so the final upload has them too.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TestCaseResult } from '../../api/store/result-store.js';
import { readJUnitResults } from './junit.js';

const REPORTED_FILE = 'reported-tests.json';

/** What identifies the JUnit files' current content: names, sizes and times. */
async function junitStamp(dir: string): Promise<string> {
  const parts: string[] = [];
  const visit = async (sub: string, depth: number) => {
    for (const e of await fs.readdir(path.join(dir, sub), { withFileTypes: true }).catch(() => [])) {
      const rel = path.join(sub, e.name);
      if (e.isFile() && e.name.endsWith('.xml')) {
        const s = await fs.stat(path.join(dir, rel)).catch(() => undefined);
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

  constructor(
    private readonly jobDir: string,
    private readonly resultsDir: string,
  ) {}

  /** A test the runner reported finished (a later report of the same test replaces it). */
  report(test: TestCaseResult): void {
    this.reported.set(`${test.classname ?? ''}\0${test.name}`, test);
    this.version++;
  }

  /** Reads the JUnit files again if any changed. */
  async refresh(): Promise<void> {
    const stamp = await junitStamp(this.resultsDir);
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    this.junit = await readJUnitResults(this.resultsDir);
    this.version++;
  }

  all(): TestCaseResult[] {
    return mergeTests(this.junit, [...this.reported.values()]);
  }

  /** Keeps the status-line results for the final upload (another activity). */
  async save(): Promise<void> {
    if (this.reported.size > 0) await fs.writeFile(path.join(this.jobDir, REPORTED_FILE), JSON.stringify([...this.reported.values()]));
  }
}

/** Every per-test result of a finished job: its JUnit files and what its runner reported. */
export async function collectTests(jobDir: string, resultsDir: string): Promise<TestCaseResult[]> {
  const reported = await fs
    .readFile(path.join(jobDir, REPORTED_FILE), 'utf8')
    .then((t) => JSON.parse(t) as TestCaseResult[])
    .catch(() => []);
  return mergeTests(await readJUnitResults(resultsDir), reported);
}
