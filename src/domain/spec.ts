/**
 * @module The job spec: what a tester writes (YAML or JSON) to submit jobs. One zod schema
 * validates the shape, fills in defaults (submission-level `defaults`, then built-in ones)
 * and checks the dependency graph, so every error carries the path of the field at fault.
 */
import { commitRef } from './webhooks.js';
import { z } from 'zod';
import { parseRequirement, type Requirement } from './requirements.js';
import { analyseGraph } from './plan.js';
import type { BatchRun, Job, Submission } from './job.js';
import { BATCH_START_ALLOWANCE_MS, MAX_BATCH_TESTS, MAX_BATCH_TIMEOUT_MS, type BatchTimeouts } from './batch-work.js';
import { compact } from './compact.js';
import { DEFAULT_POOL, HOST_ID_PATTERN, POOL_PATTERN } from './ids.js';
import { utf8Length } from './text.js';
import { reserveSpec } from './reservation.js';

export type { BatchRun, Job, Submission } from './job.js';

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const nameMessage =
  'must start with a letter or digit and use only letters, digits, ".", "_" and "-" (at most 100 characters)';

export const JOB_DEFAULTS = {
  priority: 50,
  maxRetries: 0,
  timeoutMs: 60 * 60_000,
  provisionTimeoutMs: 10 * 60_000,
} as const;

export const jobName = z.string().regex(NAME_PATTERN, nameMessage);
/** The pool of hosts (one scheduler) a job or batch run asks for a lease; `default` when none is given. */
export const poolName = z
  .string()
  .regex(
    POOL_PATTERN,
    'must start with a letter or digit and use only letters, digits, ".", "_" and "-" (at most 63 characters)',
  );

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,199}$/;

/** Every duration in a spec: Node's timers and Temporal take it as it is, up to 7 days. */
export const MAX_DURATION_MS = MAX_BATCH_TIMEOUT_MS;
/**
 * What reaches a process must fit the kernel's limits, or the spawn fails (E2BIG) on the
 * host: one argument or variable at most 32 KiB (Linux refuses one over 128 KiB), a job's
 * argv, settings and secrets together at most 256 KiB, and at most 1,000 of each.
 */
export const PROCESS_LIMITS = { valueBytes: 32 * 1024, totalBytes: 256 * 1024, count: 1_000 } as const;

/** What reaches a process (argv, environment) cannot hold a NUL byte: refuse it here, not at spawn. */
const noNul = (s: string) => !s.includes('\0');
const NUL_MESSAGE = 'cannot contain a NUL byte';
export const processString = z
  .string()
  .refine(noNul, NUL_MESSAGE)
  .refine(
    (s) => utf8Length(s) <= PROCESS_LIMITS.valueBytes,
    `at most ${PROCESS_LIMITS.valueBytes} bytes (put large data into assets)`,
  );

/** Environment variables for the runner: names as the shell knows them, none of Testbay's own. */
export const envRecord = <T extends z.ZodType>(value: T) =>
  z.record(z.string(), value).superRefine((record, ctx) => {
    const keys = Object.keys(record);
    if (keys.length > PROCESS_LIMITS.count)
      ctx.addIssue({ code: 'custom', path: [], message: `at most ${PROCESS_LIMITS.count} variables` });
    for (const key of keys) {
      if (!ENV_NAME.test(key))
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'must be an environment variable name (letters, digits, "_"; at most 200)',
        });
      else if (key.startsWith('TESTBAY_'))
        ctx.addIssue({ code: 'custom', path: [key], message: 'TESTBAY_* variables are set by Testbay itself' });
    }
  });

/** Settings reach the runner as environment variables; numbers and booleans are written as text. */
const settings = envRecord(
  z
    .union([processString, z.number(), z.boolean()], {
      error: 'must be a string, number or boolean (quote values that contain commas in YAML flow maps)',
    })
    .transform((v) => String(v)),
);

/**
 * Secrets reach the runner as environment variables too, and nowhere else: sealed from
 * the moment the API accepts them (Temporal and the result store hold ciphertext), masked
 * in the job's log and in every view.
 */
const secrets = envRecord(processString.min(1, 'a secret cannot be empty'));

export const runner = z.strictObject({
  command: z
    .array(processString.min(1, 'an argument cannot be empty'), {
      error: 'must be an argv array such as ["./run-tests", "--fast"], never a shell string',
    })
    .min(1, 'needs at least the program to run')
    .max(PROCESS_LIMITS.count, `at most ${PROCESS_LIMITS.count} arguments`),
});

/** argv, settings and secrets of one job together, as the kernel counts them (each with its NUL). */
export function processBytes(job: {
  runner: { command: string[] };
  settings: Record<string, string>;
  secrets?: Record<string, string>;
}): number {
  const env = Object.entries({ ...job.settings, ...job.secrets }).reduce(
    (n, [k, v]) => n + utf8Length(k) + utf8Length(v) + 2,
    0,
  );
  return job.runner.command.reduce((n, a) => n + utf8Length(a) + 1, env);
}

const requirement = z.string().transform((text, ctx): Requirement => {
  const parsed = parseRequirement(text);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  return parsed.value;
});

const fileName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, 'must be a plain file name (letters, digits, ".", "_", "-")');

export const asset = z.strictObject({
  url: z.string().regex(/^(https?|file):\/\/\S+$/, 'must be an http://, https:// or file:// URL'),
  sha256: z.string().regex(/^[a-f0-9]{64}$/, 'must be 64 lowercase hex digits'),
  name: fileName.optional(),
});

// git reads an argument that starts with "-" as an option: refuse it here (the host puts `--` before them too).
const notAnOption = (s: string) => !s.startsWith('-');
export const testCode = z.strictObject({
  git: z
    .string()
    .min(1, 'needs the repository URL or path')
    .max(2000)
    .refine(notAnOption, 'cannot start with "-"')
    .refine(noNul, NUL_MESSAGE),
  ref: z
    .string()
    .min(1)
    .max(500)
    .refine(notAnOption, 'cannot start with "-"')
    .regex(/^\S+$/, 'a branch, tag or commit has no white space')
    .default('HEAD'),
});

const positiveMs = z.number().int().positive().max(MAX_DURATION_MS, `at most ${MAX_DURATION_MS} ms (7 days)`);

/** Fields a job may take from the submission's `defaults`. */
export const inheritable = {
  runner: runner.optional(),
  settings: settings.optional(),
  secrets: secrets.optional(),
  workerClass: z.string().regex(NAME_PATTERN, nameMessage).optional(),
  pool: poolName.optional(),
  hostRequires: z.array(requirement).optional(),
  timeoutMs: positiveMs.optional(),
  provisionTimeoutMs: positiveMs.optional(),
  /** the runner is stopped (aborted, no-output) after this long without log output or a status line; default off */
  outputTimeoutMs: positiveMs.optional(),
  queueTimeoutMs: positiveMs.optional(),
  priority: z.number().int().min(0).max(1000).optional(),
  maxRetries: z.number().int().min(0).max(100).optional(),
  assets: z.array(asset).optional(),
  tests: testCode.optional(),
  /** settings that belong to the job's scenario (with its name and worker class): its history, its last good run */
  scenarioKeys: z.array(z.string().regex(ENV_NAME, 'must be a setting name')).max(20).optional(),
  /** keep the host for a person after the job (Beaker reservesys): when, how long, whose SSH keys */
  reserve: reserveSpec.optional(),
  /** run only on this host (its id): checked against the lab at submit, like a requirement */
  host: z.string().regex(HOST_ID_PATTERN, 'must be a host id (letters, digits, ".", "_", "-"; at most 63)').optional(),
};

const oneOrMany = z.union([jobName, z.array(jobName)]).transform((v) => (Array.isArray(v) ? v : [v]));

export const jobInput = z.strictObject({
  name: jobName,
  description: z.string().max(2000).optional(),
  ...inheritable,
  startAfter: oneOrMany.optional(),
  startDirectlyAfter: oneOrMany.optional(),
  parallelWith: oneOrMany.optional(),
  /** what TESTBAY_ROLE says to the runner (Beaker's CLIENTS/SERVERS); default the job's name */
  role: z.string().regex(NAME_PATTERN, nameMessage).optional(),
  /** false: a failed job of its recipe set leaves its partners running to their end (openQA PARALLEL_CANCEL_WHOLE_CLUSTER=0) */
  stopPartnersOnFailure: z.boolean().optional(),
});

export const BATCH_DEFAULTS = {
  batchSize: 50,
  testTimeoutMs: 5 * 60_000,
  requeueLimit: 2,
  maxRequeueRatio: 0.25,
  retryFailed: 0,
  maxHosts: 10,
} as const;

const testId = z
  .string()
  .min(1)
  .max(300)
  .regex(/^\S+$/, 'a test id cannot contain white space')
  .refine(noNul, NUL_MESSAGE);
/** Batch deadlines: like every duration in a spec, at most 7 days. */
const batchMs = positiveMs;

export const batchRunInput = z
  .strictObject({
    name: jobName,
    description: z.string().max(2000).optional(),
    tests: z.array(testId).min(1, 'needs at least one test').max(MAX_BATCH_TESTS).optional(),
    testsCommand: z.array(processString.min(1)).min(1, 'needs at least the program to run').optional(),
    batchSize: z.number().int().min(1).max(10_000).default(BATCH_DEFAULTS.batchSize),
    runner: runner.optional(),
    settings: settings.optional(),
    secrets: secrets.optional(),
    workerClass: z.string().regex(NAME_PATTERN, nameMessage).optional(),
    pool: poolName.optional(),
    hostRequires: z.array(requirement).optional(),
    priority: z.number().int().min(0).max(1000).optional(),
    testTimeoutMs: batchMs.default(BATCH_DEFAULTS.testTimeoutMs),
    batchTimeoutMs: batchMs.optional(),
    scenarioKeys: inheritable.scenarioKeys,
    requeueLimit: z.number().int().min(0).max(20).default(BATCH_DEFAULTS.requeueLimit),
    maxRequeueRatio: z.number().min(0).max(10).default(BATCH_DEFAULTS.maxRequeueRatio),
    retryFailed: z.number().int().min(0).max(10).default(BATCH_DEFAULTS.retryFailed),
    maxHosts: z.number().int().min(1).max(1000).default(BATCH_DEFAULTS.maxHosts),
  })
  .superRefine(checkTestList);

/** A batch run's tests: a list or a command that prints them, one of the two, no test id twice. */
export function checkTestList(
  b: { tests?: string[] | undefined; testsCommand?: string[] | undefined },
  ctx: z.RefinementCtx,
): void {
  if ((b.tests === undefined) === (b.testsCommand === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['tests'],
      message: 'give either tests (a list of test ids) or testsCommand (a command that prints them), not both',
    });
  }
  const seen = new Set<string>();
  b.tests?.forEach((t, i) => {
    if (seen.has(t)) ctx.addIssue({ code: 'custom', path: ['tests', i], message: `duplicate test id ${t}` });
    seen.add(t);
  });
}

export const SUBMISSION_LIMITS = { nameLength: 200, jobs: 500, batchRuns: 20 } as const;
export const NO_WORK_MESSAGE = 'a submission needs at least one job or batch run';

/** What is wrong with the name of batch run `i`: a job has it too, or a batch run before it. */
export function batchRunNameIssues(
  i: number,
  jobs: readonly { name: string }[],
  batchRuns: readonly { name: string }[],
): string[] {
  const name = batchRuns[i]!.name;
  const issues: string[] = [];
  const clash = jobs.findIndex((j) => j.name === name);
  if (clash !== -1) issues.push(`name \`${name}\` is also the name of jobs.${clash}`);
  if (batchRuns.findIndex((o) => o.name === name) !== i) issues.push(`duplicate batch run name \`${name}\``);
  return issues;
}

export const submissionSpec = z
  .strictObject({
    name: z.string().min(1).max(SUBMISSION_LIMITS.nameLength).optional(),
    defaults: z.strictObject(inheritable).optional(),
    jobs: z.array(jobInput).max(SUBMISSION_LIMITS.jobs).default([]),
    batchRuns: z.array(batchRunInput).max(SUBMISSION_LIMITS.batchRuns).default([]),
    /** the commit under test: its status (pending, then success/failure/error) is posted to the commit-status API */
    commit: commitRef.optional(),
  })
  .transform((input, ctx): Submission => {
    const d = input.defaults ?? {};
    if (input.jobs.length === 0 && input.batchRuns.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['jobs'], message: NO_WORK_MESSAGE });
      return z.NEVER;
    }
    const batchRuns: BatchRun[] = [];
    input.batchRuns.forEach((b, i) => {
      const runnerSpec = b.runner ?? d.runner;
      const workerClass = b.workerClass ?? d.workerClass;
      if (!runnerSpec)
        ctx.addIssue({
          code: 'custom',
          path: ['batchRuns', i, 'runner'],
          message: 'required: set runner.command on the batch run or in defaults',
        });
      if (!workerClass)
        ctx.addIssue({
          code: 'custom',
          path: ['batchRuns', i, 'workerClass'],
          message: 'required: set workerClass on the batch run or in defaults',
        });
      for (const message of batchRunNameIssues(i, input.jobs, input.batchRuns))
        ctx.addIssue({ code: 'custom', path: ['batchRuns', i, 'name'], message });
      if (!runnerSpec || !workerClass) return;
      const run: BatchRun & BatchTimeouts = {
        name: b.name,
        ...(b.description !== undefined ? { description: b.description } : {}),
        ...(b.tests ? { tests: b.tests } : {}),
        ...(b.testsCommand ? { testsCommand: b.testsCommand } : {}),
        batchSize: b.batchSize,
        runner: runnerSpec,
        settings: { ...d.settings, ...b.settings },
        ...secretsOf(d.secrets, b.secrets),
        workerClass,
        ...poolOf(b.pool ?? d.pool),
        hostRequires: b.hostRequires ?? d.hostRequires ?? [],
        priority: b.priority ?? d.priority ?? JOB_DEFAULTS.priority,
        testTimeoutMs: b.testTimeoutMs,
        // Without one given, each batch's deadline scales with its size (batchTimeoutFor);
        // this is a full batch's, for people to read.
        batchTimeoutMs:
          b.batchTimeoutMs ?? Math.min(b.batchSize * b.testTimeoutMs + BATCH_START_ALLOWANCE_MS, MAX_BATCH_TIMEOUT_MS),
        ...(b.batchTimeoutMs !== undefined ? { batchTimeoutGiven: true } : {}),
        requeueLimit: b.requeueLimit,
        maxRequeueRatio: b.maxRequeueRatio,
        retryFailed: b.retryFailed,
        maxHosts: b.maxHosts,
        ...scenarioKeysOf(b.scenarioKeys ?? d.scenarioKeys),
      };
      checkProcess(run, ['batchRuns', i], ctx);
      batchRuns.push(run);
    });
    const jobs: Job[] = [];
    input.jobs.forEach((j, i) => {
      const runnerSpec = j.runner ?? d.runner;
      const workerClass = j.workerClass ?? d.workerClass;
      if (!runnerSpec)
        ctx.addIssue({
          code: 'custom',
          path: ['jobs', i, 'runner'],
          message: 'required: set runner.command on the job or in defaults',
        });
      if (!workerClass)
        ctx.addIssue({
          code: 'custom',
          path: ['jobs', i, 'workerClass'],
          message: 'required: set workerClass on the job or in defaults',
        });
      if ((j.startDirectlyAfter?.length ?? 0) > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['jobs', i, 'startDirectlyAfter'],
          message: `job \`${j.name}\` can run directly after only one job, not ${j.startDirectlyAfter?.map((n) => `\`${n}\``).join(' and ')}`,
        });
      }
      if (!runnerSpec || !workerClass) return;
      const job: Job = {
        name: j.name,
        runner: runnerSpec,
        settings: { ...d.settings, ...j.settings },
        ...secretsOf(d.secrets, j.secrets),
        workerClass,
        ...poolOf(j.pool ?? d.pool),
        hostRequires: j.hostRequires ?? d.hostRequires ?? [],
        timeoutMs: j.timeoutMs ?? d.timeoutMs ?? JOB_DEFAULTS.timeoutMs,
        provisionTimeoutMs: j.provisionTimeoutMs ?? d.provisionTimeoutMs ?? JOB_DEFAULTS.provisionTimeoutMs,
        priority: j.priority ?? d.priority ?? JOB_DEFAULTS.priority,
        maxRetries: j.maxRetries ?? d.maxRetries ?? JOB_DEFAULTS.maxRetries,
        assets: (j.assets ?? d.assets ?? []).map((a) => compact(a)),
        startAfter: j.startAfter ?? [],
        parallelWith: j.parallelWith ?? [],
      };
      if (j.role !== undefined) job.role = j.role;
      const reserve = j.reserve ?? d.reserve;
      if (reserve) job.reserve = reserve;
      const host = j.host ?? d.host;
      if (host !== undefined) job.host = host;
      if (j.stopPartnersOnFailure !== undefined) job.stopPartnersOnFailure = j.stopPartnersOnFailure;
      Object.assign(job, scenarioKeysOf(j.scenarioKeys ?? d.scenarioKeys));
      const outputTimeoutMs = j.outputTimeoutMs ?? d.outputTimeoutMs;
      if (outputTimeoutMs !== undefined) job.outputTimeoutMs = outputTimeoutMs;
      const queueTimeoutMs = j.queueTimeoutMs ?? d.queueTimeoutMs;
      if (queueTimeoutMs !== undefined) job.queueTimeoutMs = queueTimeoutMs;
      const tests = j.tests ?? d.tests;
      if (tests) job.tests = tests;
      if (j.description !== undefined) job.description = j.description;
      const direct = j.startDirectlyAfter?.[0];
      if (direct !== undefined) job.startDirectlyAfter = direct;
      checkProcess(job, ['jobs', i], ctx);
      jobs.push(job);
    });
    if (jobs.length !== input.jobs.length || batchRuns.length !== input.batchRuns.length) return z.NEVER;
    for (const issue of analyseGraph(jobs).issues)
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    const submission: Submission = { jobs, ...(batchRuns.length > 0 ? { batchRuns } : {}) };
    if (input.name !== undefined) submission.name = input.name;
    if (input.commit) submission.commit = compact(input.commit);
    return submission;
  });

export type SubmissionInput = z.input<typeof submissionSpec>;

/** The default pool is left out, so a plan without pools reads as it always did. */
function poolOf(pool: string | undefined): { pool?: string } {
  return pool === undefined || pool === DEFAULT_POOL ? {} : { pool };
}

function scenarioKeysOf(keys: string[] | undefined): { scenarioKeys?: string[] } {
  return keys && keys.length > 0 ? { scenarioKeys: [...new Set(keys)] } : {};
}

function secretsOf(
  defaults: Record<string, string> | undefined,
  own: Record<string, string> | undefined,
): { secrets?: Record<string, string> } {
  const merged = { ...defaults, ...own };
  return Object.keys(merged).length > 0 ? { secrets: merged } : {};
}

/** A job's (or batch run's) process must start: argv and environment within the kernel's limits, no name twice. */
function checkProcess(
  job: { runner: { command: string[] }; settings: Record<string, string>; secrets?: Record<string, string> },
  at: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  for (const name of Object.keys(job.secrets ?? {})) {
    if (name in job.settings)
      ctx.addIssue({
        code: 'custom',
        path: [...at, 'secrets', name],
        message: `${name} is also a setting: a variable is either a setting or a secret`,
      });
  }
  const bytes = processBytes(job);
  if (bytes > PROCESS_LIMITS.totalBytes) {
    ctx.addIssue({
      code: 'custom',
      path: [...at, 'settings'],
      message: `runner argv, settings and secrets take ${bytes} bytes, above the ${PROCESS_LIMITS.totalBytes} a process may be given (put large data into assets)`,
    });
  }
}
