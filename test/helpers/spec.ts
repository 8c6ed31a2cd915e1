/**
 * Builders for job specs in tests: `job('a', { startAfter: ['b'] })`, `spec(jobA, jobB)`;
 * `plan(spec)` validates and plans one (throwing its issues), `rejected(value)` gives the
 * issues of a spec that must be refused.
 */
import { formatIssue, validateSpec } from '../../src/domain/parse-spec.js';
import { buildPlan } from '../../src/domain/plan.js';
import type { SubmissionInput } from '../../src/domain/spec.js';

type JobInput = NonNullable<SubmissionInput['jobs']>[number];

export function job(name: string, overrides: Partial<JobInput> = {}): JobInput {
  return { name, workerClass: 'local', runner: { command: ['os-test'] }, ...overrides };
}

export function spec(...jobs: JobInput[]): SubmissionInput {
  return { jobs };
}

export function plan(input: SubmissionInput) {
  const r = validateSpec(input);
  if (!r.ok) throw new Error(r.issues.map(formatIssue).join('\n'));
  return buildPlan(r.submission);
}

export function rejected(value: unknown): string[] {
  const r = validateSpec(value);
  if (r.ok) throw new Error('expected the spec to be rejected');
  return r.issues.map(formatIssue);
}
