/**
 * @module The normalised submission as a schema: the shape submissionSpec's transform
 * produces (Submission, Job and BatchRun of job.ts: defaults applied, requirements parsed,
 * secrets sealed), for a submission that reaches the API already normalised (the record of
 * a health check the scheduler started). Each field keeps the spec's own rule. Of what the
 * transform checks across fields, the graph (so `buildPlan` takes the result), the batch
 * run names and that there is work are checked again; the process limits are not (a sealed
 * secret is longer than its text). No defaults and no transforms: a valid submission parses
 * to itself. The types are checked both ways against job.ts, so the two cannot drift.
 */
import { z } from 'zod';
import type { BatchRun, Job, Submission } from './job.js';
import { analyseGraph } from './plan.js';
import { formatRequirement, parseRequirement, REQUIREMENT_OPERATORS, type Requirement } from './requirements.js';
import { reserveSpec } from './reservation.js';
import { isSealed, SEALED_PREFIX } from './sealed.js';
import {
  asset,
  batchRunInput,
  batchRunNameIssues,
  checkTestList,
  envRecord,
  inheritable,
  jobInput,
  jobName,
  NO_WORK_MESSAGE,
  processString,
  runner,
  SUBMISSION_LIMITS,
  testCode,
} from './spec.js';
import { commitRef } from './webhooks.js';

/** A spec field that may be absent, as the transform writes it: absent, never `undefined`. */
const exact = <T extends z.ZodType>(field: z.ZodOptional<T>) => field.unwrap().exactOptional();

/** `S` when its output is `T` exactly (no field more or less, optional or not alike), else never. */
type Exactly<S extends z.ZodType, T> =
  (<U>() => U extends z.output<S> ? 1 : 2) extends <U>() => U extends T ? 1 : 2 ? S : never;

/** A requirement as parsed: it reads back as itself (`key op value`), as the spec would parse it. */
const requirement = z
  .strictObject({ key: z.string(), op: z.enum(REQUIREMENT_OPERATORS), value: z.string() })
  .superRefine((r, ctx) => {
    const parsed = parseRequirement(formatRequirement(r));
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error });
    else if (parsed.value.key !== r.key || parsed.value.op !== r.op || parsed.value.value !== r.value)
      ctx.addIssue({ code: 'custom', message: `is not as the spec parses "${formatRequirement(r)}"` });
  });

const settings = envRecord(processString);
/** Secrets are sealed for their submission by the API as it accepts them; plain text never gets here. */
const secrets = envRecord(
  z.string().refine(isSealed, `must be sealed (${SEALED_PREFIX}…): the API seals a secret as it accepts it`),
);

export const normalisedJob = z.strictObject({
  name: jobName,
  description: exact(jobInput.shape.description),
  runner,
  settings,
  secrets: secrets.exactOptional(),
  workerClass: inheritable.workerClass.unwrap(),
  pool: exact(inheritable.pool),
  hostRequires: z.array(requirement),
  timeoutMs: inheritable.timeoutMs.unwrap(),
  provisionTimeoutMs: inheritable.provisionTimeoutMs.unwrap(),
  outputTimeoutMs: exact(inheritable.outputTimeoutMs),
  queueTimeoutMs: exact(inheritable.queueTimeoutMs),
  priority: inheritable.priority.unwrap(),
  maxRetries: inheritable.maxRetries.unwrap(),
  assets: z.array(asset.extend({ name: exact(asset.shape.name) })),
  tests: testCode.extend({ ref: testCode.shape.ref.removeDefault() }).exactOptional(),
  startAfter: z.array(jobName),
  startDirectlyAfter: jobName.exactOptional(),
  parallelWith: z.array(jobName),
  role: exact(jobInput.shape.role),
  stopPartnersOnFailure: exact(jobInput.shape.stopPartnersOnFailure),
  scenarioKeys: exact(inheritable.scenarioKeys),
  reserve: reserveSpec.extend({ durationMs: reserveSpec.shape.durationMs.removeDefault() }).exactOptional(),
  host: exact(inheritable.host),
});

const run = batchRunInput.shape;
export const normalisedBatchRun = z
  .strictObject({
    name: run.name,
    description: exact(run.description),
    tests: exact(run.tests),
    testsCommand: exact(run.testsCommand),
    batchSize: run.batchSize.removeDefault(),
    runner,
    settings,
    secrets: secrets.exactOptional(),
    workerClass: run.workerClass.unwrap(),
    pool: exact(run.pool),
    hostRequires: z.array(requirement),
    priority: run.priority.unwrap(),
    testTimeoutMs: run.testTimeoutMs.removeDefault(),
    batchTimeoutMs: run.batchTimeoutMs.unwrap(),
    batchTimeoutGiven: z.boolean().exactOptional(),
    requeueLimit: run.requeueLimit.removeDefault(),
    maxRequeueRatio: run.maxRequeueRatio.removeDefault(),
    retryFailed: run.retryFailed.removeDefault(),
    maxHosts: run.maxHosts.removeDefault(),
    scenarioKeys: exact(run.scenarioKeys),
  })
  .superRefine(checkTestList);

export const normalisedSubmission = z
  .strictObject({
    name: z.string().min(1).max(SUBMISSION_LIMITS.nameLength).exactOptional(),
    commit: commitRef.extend({ statusUrl: exact(commitRef.shape.statusUrl) }).exactOptional(),
    jobs: z.array(normalisedJob).max(SUBMISSION_LIMITS.jobs),
    batchRuns: z.array(normalisedBatchRun).max(SUBMISSION_LIMITS.batchRuns).exactOptional(),
  })
  .superRefine((s, ctx) => {
    const batchRuns = s.batchRuns ?? [];
    if (s.jobs.length === 0 && batchRuns.length === 0)
      ctx.addIssue({ code: 'custom', path: ['jobs'], message: NO_WORK_MESSAGE });
    batchRuns.forEach((_, n) => {
      for (const message of batchRunNameIssues(n, s.jobs, batchRuns))
        ctx.addIssue({ code: 'custom', path: ['batchRuns', n, 'name'], message });
    });
    for (const issue of analyseGraph(s.jobs).issues)
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  })
  .describe('a submission as the spec normalises it: defaults applied, requirements parsed, secrets sealed');

// The schemas and job.ts's types are one shape: a field added to either fails to compile here.
const _requirement: Exactly<typeof requirement, Requirement> = requirement;
const _job: Exactly<typeof normalisedJob, Job> = normalisedJob;
const _batchRun: Exactly<typeof normalisedBatchRun, BatchRun> = normalisedBatchRun;
const _submission: Exactly<typeof normalisedSubmission, Submission> = normalisedSubmission;
