/**
 * fast-check arbitraries for job specs: spec-shaped objects that are often valid and often
 * wrong in one field — names from a small pool (so dependencies hit real jobs, unknown
 * ones, cycles and self-references), hostile strings (shell syntax, NUL, unicode, path
 * tricks), wrong types and unknown keys. Shared by the parser's unit fuzzing and the API's.
 */
import fc from 'fast-check';

const NAMES = ['a', 'b', 'c', 'install', 'desktop', 'x.y-z_1'];

/** Strings a hostile or careless user might put anywhere. */
export const nastyString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'a',
    '$(touch /tmp/pwned)',
    '`id`',
    'a; rm -rf /',
    '../../etc/passwd',
    '/abs',
    'a\0b',
    '\u202e',
    'ü',
    '💥',
    '"',
    "'",
    '\\',
    '%00',
    'a\nb',
    '${HOME}',
    '*',
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

const name = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...NAMES) }, { weight: 1, arbitrary: nastyString });
const names = fc.oneof(name, fc.array(name, { maxLength: 3 }));

/** A value of a random JSON type, for fields that get the wrong one. */
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), nastyString);

const maybe = <T>(arb: fc.Arbitrary<T>, weight = 3) =>
  fc.oneof({ weight, arbitrary: arb }, { weight: 1, arbitrary: anyValue });

const settingKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('MODULES', 'A_B', 'x1', 'PATH') },
  { weight: 1, arbitrary: fc.constantFrom('TESTBAY_JOB', '1BAD', 'a-b', 'a b', '', 'A\0B') },
);

const job = fc.record(
  {
    name,
    workerClass: maybe(fc.constantFrom('local', 'qemu_x86_64', 'bad class')),
    runner: maybe(
      fc.record({
        command: maybe(fc.array(fc.oneof(fc.constantFrom('os-test', 'sh', '-c'), nastyString), { maxLength: 4 })),
      }),
    ),
    settings: maybe(fc.dictionary(settingKey, fc.oneof(nastyString, fc.integer(), fc.boolean()), { maxKeys: 3 })),
    hostRequires: maybe(
      fc.array(
        fc.oneof(fc.constantFrom('arch == x86_64', 'memory_gb >= 16', 'arch == aarch64', 'cpus > 2'), nastyString),
        { maxLength: 2 },
      ),
    ),
    timeoutMs: maybe(fc.oneof(fc.integer({ min: -5, max: 10_000_000 }), fc.double())),
    provisionTimeoutMs: maybe(fc.integer({ min: 0, max: 1_000_000 })),
    queueTimeoutMs: maybe(fc.integer({ min: 0, max: 1_000_000 })),
    priority: maybe(fc.integer({ min: -10, max: 2000 })),
    maxRetries: maybe(fc.integer({ min: -1, max: 200 })),
    assets: maybe(
      fc.array(
        fc.record({
          url: maybe(fc.constantFrom('https://example.test/a.img', 'file:///tmp/a', 'ftp://x', '')),
          sha256: maybe(fc.constantFrom('0'.repeat(64), 'abc')),
        }),
        { maxLength: 2 },
      ),
    ),
    tests: maybe(
      fc.record({
        git: maybe(fc.constantFrom('https://example.test/t.git', '')),
        ref: maybe(fc.constantFrom('main', 'HEAD')),
      }),
    ),
    startAfter: names,
    startDirectlyAfter: names,
    parallelWith: names,
    bogus: anyValue,
  },
  { requiredKeys: ['name'] },
);

const batchRun = fc.record(
  {
    name,
    tests: maybe(fc.array(fc.oneof(fc.constantFrom('t1', 't2', 't3'), nastyString), { maxLength: 4 })),
    testsCommand: maybe(fc.array(nastyString, { maxLength: 2 })),
    batchSize: maybe(fc.integer({ min: -1, max: 20_000 })),
    runner: maybe(fc.record({ command: maybe(fc.array(nastyString, { maxLength: 2 })) })),
    workerClass: maybe(fc.constantFrom('local')),
    requeueLimit: maybe(fc.integer({ min: -1, max: 30 })),
    maxRequeueRatio: maybe(fc.double({ min: -1, max: 20, noNaN: true })),
  },
  { requiredKeys: ['name'] },
);

/** A valid spec: distinct names, dependencies only on earlier jobs (so no cycles). */
export const validSpec = fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 }).chain((jobNames) =>
  fc
    .tuple(
      ...jobNames.map((n, i) =>
        fc.record({
          name: fc.constant(n),
          workerClass: fc.constant('local'),
          runner: fc.record({
            command: fc.array(
              fc.oneof(
                fc.constantFrom('os-test'),
                nastyString.filter((s) => s.length > 0 && !s.includes('\0')),
              ),
              { minLength: 1, maxLength: 3 },
            ),
          }),
          settings: fc.dictionary(
            fc.constantFrom('MODULES', 'A_B'),
            nastyString.filter((s) => !s.includes('\0')),
            { maxKeys: 2 },
          ),
          startAfter: i === 0 ? fc.constant([]) : fc.subarray(jobNames.slice(0, i), { maxLength: Math.min(2, i) }),
        }),
      ),
    )
    .map((jobs) => ({ jobs })),
);

/** A spec-shaped object: sometimes valid, mostly wrong somewhere. */
export function specLike(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 2, arbitrary: validSpec },
    {
      weight: 8,
      arbitrary: fc.record(
        {
          name: maybe(fc.string({ maxLength: 30 })),
          defaults: maybe(
            fc.record(
              { workerClass: fc.constantFrom('local'), runner: fc.record({ command: fc.constant(['os-test']) }) },
              { requiredKeys: [] },
            ),
          ),
          jobs: maybe(fc.array(job, { maxLength: 5 }), 6),
          batchRuns: maybe(fc.array(batchRun, { maxLength: 2 })),
          extra: anyValue,
        },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: anyValue },
  );
}
