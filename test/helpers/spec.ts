/**
 * Builders for job specs in tests: `job('a', { startAfter: ['b'] })`, `spec(jobA, jobB)`.
 */
import type { SubmissionInput } from '../../src/domain/spec.js';

type JobInput = NonNullable<SubmissionInput['jobs']>[number];

export function job(name: string, overrides: Partial<JobInput> = {}): JobInput {
  return { name, workerClass: 'local', runner: { command: ['os-test'] }, ...overrides };
}

export function spec(...jobs: JobInput[]): SubmissionInput {
  return { jobs };
}
