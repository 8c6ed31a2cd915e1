/**
 * Property-based tests of the job-spec parser (fast-check): whatever text or value comes
 * in, it answers — a submission or issues with paths — and never throws; what it accepts
 * can be planned, and reaches a runner only as strings without NUL bytes (an env var or an
 * argv entry with one cannot be passed to a process).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSpecText, validateSpec } from '../../src/domain/parse-spec.js';
import { buildPlan } from '../../src/domain/plan.js';
import { nastyString, specLike } from '../helpers/spec-arbitraries.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

/** Every issue names a path that leads into the input: its parent exists there. */
function pathLeadsIntoInput(input: unknown, path: (string | number)[]): boolean {
  let at: unknown = input;
  for (const key of path.slice(0, -1)) {
    if (at === null || typeof at !== 'object') return false;
    at = (at as Record<string | number, unknown>)[key];
  }
  return path.length === 0 || (at !== null && typeof at === 'object');
}

function expectAnswer(result: ReturnType<typeof validateSpec>): void {
  if (result.ok) return;
  expect(result.issues.length).toBeGreaterThan(0);
  for (const issue of result.issues) {
    expect(Array.isArray(issue.path)).toBe(true);
    expect(typeof issue.message).toBe('string');
    expect(issue.message.length).toBeGreaterThan(0);
  }
}

describe('the spec parser under fuzzing', () => {
  it('answers any text with a submission or issues, never a throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (text) => {
          expectAnswer(parseSpecText(text));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('answers any JSON value the same way', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expectAnswer(validateSpec(value));
      }),
      { numRuns: RUNS },
    );
  });

  it('names paths that lead into the spec, and whatever it accepts can be planned and run', () => {
    fc.assert(
      fc.property(specLike(), (spec) => {
        const result = validateSpec(spec);
        expectAnswer(result);
        if (!result.ok) {
          for (const issue of result.issues)
            expect(pathLeadsIntoInput(spec, issue.path), JSON.stringify(issue)).toBe(true);
          return;
        }
        const plan = buildPlan(result.submission);
        expect(plan.jobs.map((j) => j.name).sort()).toEqual(result.submission.jobs.map((j) => j.name).sort());
        for (const job of result.submission.jobs) {
          for (const arg of job.runner.command) expect(arg.includes('\0')).toBe(false);
          for (const [key, value] of Object.entries(job.settings)) {
            expect(key.includes('\0') || value.includes('\0')).toBe(false);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses NUL bytes in what reaches a runner: argv, settings, test ids', () => {
    const base = { workerClass: 'local', runner: { command: ['os-test'] } };
    fc.assert(
      fc.property(nastyString, fc.constantFrom('arg', 'setting', 'test'), (text, where) => {
        const spec =
          where === 'arg'
            ? { jobs: [{ ...base, name: 'a', runner: { command: ['os-test', text] } }] }
            : where === 'setting'
              ? { jobs: [{ ...base, name: 'a', settings: { VALUE: text } }] }
              : { batchRuns: [{ ...base, name: 'b', tests: ['t1', text] }] };
        const result = validateSpec(spec);
        if (text.includes('\0')) expect(result.ok, `${where} ${JSON.stringify(text)}`).toBe(false);
        if (result.ok) {
          const values = [
            ...result.submission.jobs.flatMap((j) => [...j.runner.command, ...Object.values(j.settings)]),
            ...(result.submission.batchRuns ?? []).flatMap((b) => b.tests ?? []),
          ];
          expect(values.some((v) => v.includes('\0'))).toBe(false);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('parses YAML written from a spec as it validates the spec itself', () => {
    fc.assert(
      fc.property(specLike(), (spec) => {
        const direct = validateSpec(spec);
        const viaText = parseSpecText(JSON.stringify(spec));
        expect(viaText.ok).toBe(direct.ok);
      }),
      { numRuns: Math.ceil(RUNS / 4) },
    );
  });
});
