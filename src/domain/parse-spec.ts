/**
 * @module Reads a job spec from YAML or JSON text and validates it. Errors are data: a
 * list of issues, each with the path of the field at fault and the reason, in the same
 * shape the HTTP API returns (400) and the CLI prints (exit 2).
 */
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { submissionSpec } from './spec.js';
import type { Submission } from './job.js';

export interface SpecIssue {
  path: (string | number)[];
  message: string;
}

export type SpecResult = { ok: true; submission: Submission } | { ok: false; issues: SpecIssue[] };

/** Validates an already-decoded spec object (the HTTP API's JSON body). */
export function validateSpec(value: unknown): SpecResult {
  const parsed = submissionSpec.safeParse(value);
  if (parsed.success) return { ok: true, submission: parsed.data };
  return { ok: false, issues: fromZod(parsed.error) };
}

/** Decodes YAML (a superset of JSON) and validates it. */
export function parseSpecText(text: string): SpecResult {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => ({ path: [], message: `not valid YAML or JSON: ${e.message.split('\n')[0]}` })),
    };
  }
  let value: unknown;
  try {
    // Aliases are resolved here: an unknown one (`*x` without `&x`) or too many of them
    // (an alias bomb) is the text's fault, not the server's.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return {
      ok: false,
      issues: [{ path: [], message: `not valid YAML or JSON: ${err instanceof Error ? err.message : String(err)}` }],
    };
  }
  return validateSpec(value);
}

export function fromZod(error: z.ZodError): SpecIssue[] {
  return error.issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'number' ? p : String(p))),
    message: i.message,
  }));
}

/** `jobs.2.runner.command: needs at least the program to run` */
export function formatIssue(issue: SpecIssue): string {
  return issue.path.length === 0 ? issue.message : `${issue.path.join('.')}: ${issue.message}`;
}
