/**
 * The normalised submission's schema: what the spec's transform produces parses back to
 * itself (every health check the scheduler builds, every spec the parser accepts), and a
 * submission that is not normalised is refused with the path of the field at fault.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { healthCheckSubmission } from '../../src/domain/health-check.js';
import type { Submission } from '../../src/domain/job.js';
import { normalisedSubmission } from '../../src/domain/normalised-submission.js';
import { validateSpec } from '../../src/domain/parse-spec.js';
import { specLike } from '../helpers/spec-arbitraries.js';

const SHA = 'a'.repeat(64);

/** Health checks as an operator configures them: one bare, one with every field a check may have. */
const healthChecks = loadConfig({
  TESTBAY_HEALTH_CHECKS: JSON.stringify({
    local: { runner: { command: ['os-test'] }, settings: { MODULES: 'boot', MODULE_MS: 100, QUICK: true } },
    qemu: {
      description: 'boots and logs in',
      runner: { command: ['hc', '--quick'] },
      settings: { IMAGE: 'fedora' },
      pool: 'gpu',
      hostRequires: ['memory_gb >= 16', 'arch = x86_64'],
      timeoutMs: 20_000,
      provisionTimeoutMs: 30_000,
      outputTimeoutMs: 5_000,
      queueTimeoutMs: 60_000,
      priority: 900,
      maxRetries: 2,
      assets: [
        { url: 'https://example.test/a.img', sha256: SHA },
        { url: 'file:///srv/b.iso', sha256: SHA, name: 'b.iso' },
      ],
      tests: { git: 'https://example.test/t.git' },
      scenarioKeys: ['IMAGE', 'IMAGE'],
      reserve: { when: 'failed' },
      host: 'q1',
      role: 'checker',
      stopPartnersOnFailure: false,
      everyMs: 86_400_000,
    },
  }),
}).scheduler.healthChecks;

function parses(submission: Submission): void {
  const parsed = normalisedSubmission.safeParse(submission);
  expect(parsed.error?.issues).toBeUndefined();
  // Strict: not even an `undefined` field added or a default filled in.
  expect(parsed.data).toStrictEqual(submission);
}

const issuesOf = (value: unknown) =>
  normalisedSubmission.safeParse(value).error?.issues.map((i) => ({ path: i.path, message: i.message }));

describe('the normalised submission schema', () => {
  it('gives back every health-check submission unchanged, in any pool', () => {
    const hosts = [['local'], ['qemu'], ['other', 'qemu', 'local'], ['local', 'qemu']];
    let built = 0;
    for (const workerClasses of hosts) {
      for (const pool of ['default', 'gpu', 'lab-2']) {
        const submission = healthCheckSubmission(healthChecks, { id: 'q1', workerClasses }, pool);
        expect(submission).toBeDefined();
        parses(submission!);
        // As the workflow sends it: through JSON.
        parses(JSON.parse(JSON.stringify(submission)) as Submission);
        built++;
      }
    }
    expect(built).toBe(12);
    expect(healthCheckSubmission(healthChecks, { id: 'q1', workerClasses: ['other'] }, 'default')).toBeUndefined();
  });

  it('gives back every submission the spec parser accepts unchanged', () => {
    let accepted = 0;
    fc.assert(
      fc.property(specLike(), (spec) => {
        const result = validateSpec(spec);
        if (!result.ok) return;
        parses(result.submission);
        accepted++;
      }),
      { numRuns: 300 },
    );
    expect(accepted).toBeGreaterThan(20);
    const full = validateSpec({
      name: 'full',
      commit: { repo: 'lab/os', sha: 'abc1234' },
      defaults: { workerClass: 'local', runner: { command: ['os-test'] }, secrets: { TOKEN: 'plain' } },
      jobs: [
        { name: 'a', startDirectlyAfter: 'b' },
        { name: 'b', parallelWith: 'c' },
        { name: 'c' },
        { name: 'd', startAfter: ['a'] },
      ],
      batchRuns: [
        { name: 'suite', tests: ['t1', 't2'], batchTimeoutMs: 60_000 },
        { name: 'listed', testsCommand: ['list-tests'] },
      ],
    });
    expect(full.ok).toBe(true);
    if (!full.ok) return;
    // The API seals secrets as it accepts them: the normalised form holds only ciphertext.
    const seal = <T extends { secrets?: Record<string, string> }>(j: T): T => ({
      ...j,
      secrets: { TOKEN: 'sealed:v1:AAAA' },
    });
    parses({
      ...full.submission,
      jobs: full.submission.jobs.map(seal),
      batchRuns: full.submission.batchRuns!.map(seal),
    });
  });

  it('refuses what is not normalised, with the path of the field at fault', () => {
    const check = healthCheckSubmission(healthChecks, { id: 'q1', workerClasses: ['local'] }, 'default')!;
    const job = check.jobs[0]!;
    expect(issuesOf({ ...check, jobs: [{ ...job, secrets: { TOKEN: 'plain' } }] })).toEqual([
      {
        path: ['jobs', 0, 'secrets', 'TOKEN'],
        message: 'must be sealed (sealed:v1:…): the API seals a secret as it accepts it',
      },
    ]);
    expect(issuesOf({ ...check, jobs: [{ ...job, timeoutMs: 'x' }] })?.map((i) => i.path)).toEqual([
      ['jobs', 0, 'timeoutMs'],
    ]);
    // A spec's shorthand is not the normalised form: a requirement as text, a missing default.
    expect(issuesOf({ ...check, jobs: [{ ...job, hostRequires: ['arch == x86_64'] }] })?.map((i) => i.path)).toEqual([
      ['jobs', 0, 'hostRequires', 0],
    ]);
    const { maxRetries: _dropped, ...withoutDefault } = job;
    expect(issuesOf({ ...check, jobs: [withoutDefault] })?.map((i) => i.path)).toEqual([['jobs', 0, 'maxRetries']]);
    expect(issuesOf({ ...check, jobs: [{ ...job, hostRequires: [{ key: 'cpus', op: '>', value: 'many' }] }] })).toEqual(
      [
        {
          path: ['jobs', 0, 'hostRequires', 0],
          message: '"cpus > many": > compares numbers, but "many" is not a number',
        },
      ],
    );
    expect(issuesOf({ ...check, jobs: [{ ...job, extra: 1 }] })?.map((i) => i.path)).toEqual([['jobs', 0]]);
    // What the transform checks across jobs: the graph the planner needs, and that there is work.
    expect(issuesOf({ ...check, jobs: [{ ...job, startAfter: ['nope'] }] })).toEqual([
      { path: ['jobs', 0, 'startAfter', 0], message: 'unknown job `nope`' },
    ]);
    expect(issuesOf({ ...check, jobs: [] })).toEqual([
      { path: ['jobs'], message: 'a submission needs at least one job or batch run' },
    ]);
  });
});
