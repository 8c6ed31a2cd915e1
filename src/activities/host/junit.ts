/**
 * @module Per-test results from the JUnit XML files a runner writes into its results dir
 * (any `*.xml` with <testcase> elements, nested <testsuites> included).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import type { TestCaseResult } from '../../api/store/result-store.js';
import type { TestSummary } from '../../domain/outcome.js';

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['testsuite', 'testcase'].includes(name) });

type Node = Record<string, unknown>;

function collectCases(node: unknown, out: TestCaseResult[]): void {
  if (Array.isArray(node)) {
    for (const n of node) collectCases(n, out);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const obj = node as Node;
  for (const tc of (obj.testcase as Node[] | undefined) ?? []) out.push(toCase(tc));
  for (const [key, value] of Object.entries(obj)) if (key !== 'testcase') collectCases(value, out);
}

function text(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null) {
    const o = v as Node;
    const parts = [o.message, o['#text']].filter((x): x is string => typeof x === 'string');
    return parts.join(': ') || '';
  }
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

function toCase(tc: Node): TestCaseResult {
  const failure = tc.failure ?? undefined;
  const error = tc.error ?? undefined;
  const skipped = tc.skipped ?? undefined;
  const status: TestCaseResult['status'] = failure !== undefined ? 'failed' : error !== undefined ? 'error' : skipped !== undefined ? 'skipped' : 'passed';
  const result: TestCaseResult = { name: text(tc.name) ?? 'unnamed', status };
  const classname = text(tc.classname);
  if (classname !== undefined) result.classname = classname;
  const seconds = Number(tc.time);
  if (Number.isFinite(seconds)) result.durationMs = Math.round(seconds * 1000);
  const message = text(failure ?? error ?? skipped);
  if (message) result.message = message.slice(0, 10_000);
  return result;
}

/** Parses every XML file directly in `dir` (and one level of subfolders). */
export async function readJUnitResults(dir: string): Promise<TestCaseResult[]> {
  const files: string[] = [];
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (e.isFile() && e.name.endsWith('.xml')) files.push(path.join(dir, e.name));
    if (e.isDirectory()) {
      for (const sub of await fs.readdir(path.join(dir, e.name), { withFileTypes: true }).catch(() => [])) {
        if (sub.isFile() && sub.name.endsWith('.xml')) files.push(path.join(dir, e.name, sub.name));
      }
    }
  }
  const cases: TestCaseResult[] = [];
  for (const file of files.sort()) {
    try {
      collectCases(parser.parse(await fs.readFile(file, 'utf8')), cases);
    } catch {
      // not JUnit: ignore (it is still uploaded as an artifact)
    }
  }
  return cases;
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
