import { describe, expect, it } from 'vitest';
import { parseSpecText, validateSpec } from '../../src/domain/parse-spec.js';
import { job, rejected, spec } from '../helpers/spec.js';

const issues = rejected;

describe('job spec', () => {
  it('accepts a minimal job and fills in the defaults', () => {
    const r = validateSpec(spec(job('hello')));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const j = r.submission.jobs[0]!;
    expect(j).toMatchObject({
      name: 'hello',
      priority: 50,
      maxRetries: 0,
      settings: {},
      startAfter: [],
      parallelWith: [],
      assets: [],
    });
    expect(j.timeoutMs).toBeGreaterThan(0);
  });

  it('applies submission defaults, job fields winning and settings merged', () => {
    const r = validateSpec({
      defaults: { workerClass: 'qemu', runner: { command: ['run'] }, settings: { A: '1', B: '2' }, priority: 10 },
      jobs: [
        { name: 'x', settings: { B: 'job', C: 3 } },
        { name: 'y', workerClass: 'ipmi' },
      ],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.submission.jobs[0]).toMatchObject({
      workerClass: 'qemu',
      priority: 10,
      settings: { A: '1', B: 'job', C: '3' },
    });
    expect(r.submission.jobs[1]).toMatchObject({ workerClass: 'ipmi', runner: { command: ['run'] } });
  });

  it('reads YAML and JSON alike', () => {
    const yaml = parseSpecText(
      'jobs:\n  - name: a\n    workerClass: local\n    runner: { command: [os-test, --fast] }\n',
    );
    const json = parseSpecText(JSON.stringify(spec(job('a', { runner: { command: ['os-test', '--fast'] } }))));
    expect(yaml.ok && json.ok).toBe(true);
    if (yaml.ok && json.ok) expect(yaml.submission).toEqual(json.submission);
  });

  it('names the path of a missing runner', () => {
    expect(issues({ jobs: [{ name: 'a', workerClass: 'local' }] })).toEqual([
      'jobs.0.runner: required: set runner.command on the job or in defaults',
    ]);
  });

  it('rejects an empty command and a shell string', () => {
    expect(issues(spec(job('a', { runner: { command: [] } })))).toEqual([
      'jobs.0.runner.command: needs at least the program to run',
    ]);
    expect(issues(spec(job('a', { runner: { command: 'make test' as never } }))).join()).toMatch(
      /jobs\.0\.runner\.command: must be an argv array/,
    );
    expect(issues(spec(job('a', { runner: { command: ['run', ''] } })))).toEqual([
      'jobs.0.runner.command.1: an argument cannot be empty',
    ]);
  });

  it('rejects wrong types with the field path', () => {
    const found = issues(
      spec(job('a', { timeoutMs: 'soon' as never, priority: 1.5, settings: { OK: 'x', bad: { nested: 1 } as never } })),
    );
    expect(found).toContain('jobs.0.timeoutMs: Invalid input: expected number, received string');
    expect(found.some((i) => i.startsWith('jobs.0.priority:'))).toBe(true);
    expect(found.some((i) => i.startsWith('jobs.0.settings.bad: must be a string, number or boolean'))).toBe(true);
  });

  it('rejects unknown fields, so typos do not pass silently', () => {
    expect(issues(spec(job('a', { startafter: ['b'] } as never))).join()).toMatch(
      /jobs\.0: Unrecognized key: "startafter"/,
    );
  });

  it('rejects settings that would override the TESTBAY_ variables', () => {
    expect(issues(spec(job('a', { settings: { TESTBAY_JOB: 'x' } })))).toEqual([
      'jobs.0.settings.TESTBAY_JOB: TESTBAY_* variables are set by Testbay itself',
    ]);
  });

  it('rejects unparseable host requirements with the reason', () => {
    expect(issues(spec(job('a', { hostRequires: ['memory_gb >= lots'] })))).toEqual([
      'jobs.0.hostRequires.0: "memory_gb >= lots": >= compares numbers, but "lots" is not a number',
    ]);
    expect(issues(spec(job('a', { hostRequires: ['just words'] })))[0]).toMatch(
      /^jobs\.0\.hostRequires\.0: "just words" is not a requirement/,
    );
  });

  it('rejects a job with two directly-chained parents, naming them', () => {
    const found = issues(spec(job('a'), job('b'), job('c', { startDirectlyAfter: ['a', 'b'] })));
    expect(found).toEqual(['jobs.2.startDirectlyAfter: job `c` can run directly after only one job, not `a` and `b`']);
  });

  it('reports invalid YAML as such', () => {
    const r = parseSpecText('jobs: [unclosed');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]!.message).toMatch(/^not valid YAML or JSON/);
  });

  it('rejects an asset without a valid checksum', () => {
    expect(issues(spec(job('a', { assets: [{ url: 'https://example.org/x.iso', sha256: 'abc' }] })))).toEqual([
      'jobs.0.assets.0.sha256: must be 64 lowercase hex digits',
    ]);
  });
});
