/**
 * @module The API's shapes as zod schemas: what every endpoint returns (for the OpenAPI
 * document; an e2e test parses real responses with them), and what it takes — path
 * parameters, queries and bodies, which the routes validate with these very schemas, so
 * the document says what the code checks. The job spec itself comes from the domain. The
 * responses describe the TypeScript view types (src/domain/views.ts, the scheduler's
 * LabView).
 */
import { z } from 'zod';
import { VERDICTS } from '../../domain/batch-ledger.js';
import { BATCH_ID_PATTERN, HOST_ID_PATTERN, JOB_ID_PATTERN, SUBMISSION_ID_PATTERN } from '../../domain/ids.js';
import { AbortCause, RESULT_KINDS } from '../../domain/outcome.js';
import { NAME_PATTERN } from '../../domain/spec.js';
import { JOB_STATES } from '../../domain/views.js';

const iso = z.string().describe('ISO 8601 time');
const epochMs = z.number().describe('milliseconds since the epoch');

export const errorBody = z
  .object({
    error: z.string(),
    issues: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() })).optional(),
  })
  .describe('every error: a message, and for bad input the issues with the path of each field at fault');

export const jobResult = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('passed'), reason: z.string().optional() }),
    z.object({ kind: z.literal('failed'), reason: z.string() }).describe('the runner ran and a test failed: the system under test is at fault'),
    z
      .object({ kind: z.literal('aborted'), cause: z.enum(Object.values(AbortCause) as [AbortCause, ...AbortCause[]]), reason: z.string() })
      .describe('an infrastructure fault, with its typed cause; retried on another host up to maxRetries'),
    z.object({ kind: z.literal('cancelled'), reason: z.string() }),
    z.object({ kind: z.literal('skipped'), reason: z.string() }),
  ])
  .describe('how a job ended');

export const progress = z.object({ module: z.string().optional(), percent: z.number().optional(), message: z.string().optional() });

export const job = z.object({
  id: z.string().describe('<submission>.<n>'),
  name: z.string(),
  setNumber: z.number().int(),
  attempt: z.number().int(),
  workerClass: z.string(),
  state: z.enum(JOB_STATES),
  result: jobResult.optional(),
  hostId: z.string().optional(),
  clonedFrom: z.string().optional().describe('the job id of the attempt this one re-runs'),
  retriedAs: z.string().optional().describe('the job id of the attempt that re-ran this one'),
  waitingReason: z.string().optional().describe('why it waits: for its parents, for a host (the scheduler says why), or (scheduled) for the job before it in its chain on its host'),
  startedAt: iso.optional(),
  endedAt: iso.optional(),
  progress: progress.optional(),
});

export const recipeSet = z.object({
  number: z.number().int(),
  planIndex: z.number().int(),
  attempt: z.number().int(),
  state: z.enum(['waiting', 'leasing', 'running', 'done']),
  jobIds: z.array(z.string()),
  hosts: z.array(z.string()),
  excludedHosts: z.array(z.string()),
  clonedFrom: z.number().int().optional(),
  notRetried: z.string().optional(),
  workflowId: z.string(),
});

/** A batch run's progress (its ledger counts and notes pass through as the workflow reports them). */
export const batchRun = z.looseObject({
  id: z.string().describe('<submission>.<n>'),
  name: z.string(),
  state: z.enum(['waiting', 'listing', 'running', 'done']),
  result: z.enum(RESULT_KINDS).optional(),
  reason: z.string().optional(),
  counts: z.looseObject({}).describe('tests by verdict: total, passed, failed, flaky, skipped, lost, cancelled, running, queued, requeued'),
  hosts: z.array(z.string()),
  batches: z.number().int(),
  lostBatches: z.number().int(),
  isolated: z.array(z.looseObject({})).describe('tests rerun in a batch of their own, and why'),
  lost: z.array(z.looseObject({})).describe('tests without a result after every attempt, and why'),
  failed: z.array(z.looseObject({})),
  flaky: z.array(z.string()),
  running: z.array(z.looseObject({})).describe('batches out on hosts now'),
  workflowId: z.string(),
});

export const submission = z.object({
  id: z.string(),
  name: z.string().optional(),
  state: z.enum(['running', 'done']),
  result: z.enum(RESULT_KINDS).optional(),
  createdAt: iso,
  endedAt: iso.optional(),
  workflowId: z.string(),
  jobs: z.array(job),
  recipeSets: z.array(recipeSet),
  batchRuns: z.array(batchRun).optional(),
  notice: z.string().optional(),
  restartOf: z.object({ submissionId: z.string(), jobId: z.string() }).optional(),
  restartedAs: z.array(z.string()).optional(),
  keep: z.boolean().optional().describe('kept beyond retention until unmarked (testbay keep)'),
});

export const submissionSummary = z.object({
  id: z.string(),
  name: z.string().optional(),
  createdAt: iso,
  endedAt: iso.optional(),
  state: z.enum(['running', 'done']),
  result: z.enum(RESULT_KINDS).optional(),
  jobNames: z.array(z.string()),
  hosts: z.array(z.string()),
  keep: z.boolean().optional().describe('kept beyond retention until unmarked'),
});
export const submissionList = z.object({ submissions: z.array(submissionSummary) });

export const accepted = z.object({ id: z.string(), workflowId: z.string(), jobs: z.array(z.object({ id: z.string(), name: z.string() })) });
export const cancelling = z
  .object({ id: z.string(), cancelling: z.boolean(), result: z.enum(RESULT_KINDS).optional() })
  .describe('cancelling: true (202), or false with the result it was recorded as (200) when its workflow was already gone');
export const kept = z.object({ id: z.string(), keep: z.boolean() });
export const retentionReport = z
  .object({
    purgedJobs: z.number().int().describe('jobs whose logs and artifacts were deleted'),
    deletedSubmissions: z.number().int(),
    deletedJobs: z.number().int(),
    deletedObjects: z.number().int(),
    deletedDeliveries: z.number().int().describe('webhook deliveries that had ended'),
    deletedAuditEntries: z.number().int(),
    deletedIds: z.array(z.string()).describe('the first deleted submissions'),
    policy: z.object({ logsDays: z.number(), recordsDays: z.number() }),
  })
  .describe('what one retention pass deleted');

export const testCase = z.object({
  name: z.string(),
  classname: z.string().optional(),
  status: z.enum(['passed', 'failed', 'error', 'skipped']),
  durationMs: z.number().optional(),
  message: z.string().optional(),
});
export const artifact = z.object({ name: z.string(), sizeBytes: z.number().int() });

export const jobDetails = job.extend({
  kind: z.literal('job'),
  submissionId: z.string(),
  tests: z.array(testCase),
  artifacts: z.array(artifact),
  logBytes: z.number().int(),
  savedBytes: z.number().int().optional().describe('bytes the host saved by optimising PNG screenshots losslessly before upload'),
  purgedAt: iso.optional().describe('when retention deleted its log and artifacts'),
  scenario: z.string().optional().describe("its scenario's key: GET /scenarios/{key}/history"),
  temporalWebUrl: z.string().describe("the job's chain workflow in Temporal Web once it has a host (else the submission's)"),
  submissionWebUrl: z.string().describe("the submission's workflow in Temporal Web"),
});

/** GET /jobs/:id of a batch run (`<submission>.<n>`): the run as its submission shows it. */
export const batchRunDetails = batchRun.extend({
  kind: z.literal('batch-run'),
  submissionId: z.string(),
  temporalWebUrl: z.string().describe("the batch run's workflow in Temporal Web"),
  submissionWebUrl: z.string().describe("the submission's workflow in Temporal Web"),
});
export const jobOrBatchRun = z.discriminatedUnion('kind', [jobDetails, batchRunDetails]);

export const host = z.object({
  id: z.string(),
  state: z.enum(['idle', 'leased', 'maintenance', 'broken', 'offline']),
  pool: z.string().describe("the pool (one scheduler workflow) the host registered in: its config's `pool`, `default` when none is given"),
  instanceId: z.string(),
  workerClasses: z.array(z.string()),
  capabilities: z.record(z.string(), z.string()),
  hostname: z.string(),
  address: z.string(),
  online: z.boolean(),
  maintenance: z.boolean(),
  broken: z.object({ reason: z.string(), source: z.enum(['setup', 'fault', 'aborts', 'operator', 'check']), at: epochMs }).optional(),
  lease: z.object({ requestId: z.string(), requester: z.string(), label: z.string(), since: epochMs, healthCheck: z.boolean().optional() }).optional(),
  check: z.object({ submissionId: z.string(), why: z.string(), since: epochMs }).optional(),
  offline: z.object({ reason: z.string(), since: epochMs }).optional(),
  consecutiveAborts: z.number().int(),
  recentAborts: z.array(z.object({ jobId: z.string(), cause: z.string(), reason: z.string(), at: epochMs })),
  suspects: z
    .array(z.object({ key: z.string(), jobId: z.string(), reason: z.string(), at: epochMs }))
    .optional()
    .describe("aborts the jobs' own runners caused here (crash, timeout, declared abort): each counts towards consecutiveAborts only once that job passes on another host"),
  streak: z.array(z.string()).optional().describe('submissions counted in the current run of consecutive aborts (each counts once)'),
  leaseCount: z.number().int(),
  lastReleasedAt: epochMs,
  registeredAt: epochMs,
  reservedFor: z.string().optional(),
  currentJob: z
    .object({
      id: z.string(),
      name: z.string(),
      submissionId: z.string(),
      state: z.enum(['scheduled', 'provisioning', 'running', 'uploading', 'done']),
      startedAt: iso.optional(),
      progress: progress.optional(),
    })
    .optional()
    .describe('the job on the host now (running, else the next one of its chain waiting its turn), from the job records'),
});

export const taskFailure = z.object({ at: iso, runId: z.string().max(200).optional(), failure: z.string().max(4000) });

export const lab = z.object({
  hosts: z.array(host),
  queue: z.array(z.object({ requestId: z.string(), requester: z.string(), label: z.string(), priority: z.number(), enqueuedAt: epochMs, waitingReason: z.string(), pool: z.string() })),
  runId: z.string().describe("the default pool's scheduler run"),
  pools: z.array(z.object({ pool: z.string(), runId: z.string() })).describe("every pool of the lab (one scheduler workflow each: `testbay-scheduler` for `default`, `testbay-scheduler-<pool>` for the others), with its scheduler's run"),
  workflowTaskFailures: z
    .array(z.object({ worker: z.string(), total: z.number().int(), recent: z.array(taskFailure), reportedAt: iso }))
    .optional()
    .describe('control workers whose workflow tasks failed since they started: each is a workflow that may be stuck (look its run up in Temporal Web)'),
});

export const session = z.object({ name: z.string(), role: z.string(), canOperate: z.boolean(), temporalWebUrl: z.string(), namespace: z.string() });
export const plan = z.looseObject({ jobs: z.array(z.looseObject({ name: z.string() })), recipes: z.array(z.looseObject({})), recipeSets: z.array(z.looseObject({})) }).describe('the planner\'s output: jobs with their dependencies, chains (recipes) and recipe sets');

export const testList = z.object({ tests: z.array(testCase) });
export const artifactList = z.object({ artifacts: z.array(artifact) });

export const verdict = z.object({
  test: z.string(),
  verdict: z.enum(VERDICTS),
  reason: z.string().optional(),
  attempts: z.number().int().describe('how many times it was handed to a batch (results and losses)'),
  late: z.number().int().optional().describe('results that came after its verdict (at-least-once execution): history, not counted'),
  history: z
    .array(
      z.object({
        batchId: z.string(),
        hostId: z.string(),
        at: epochMs,
        outcome: z.string().describe('what the attempt gave: passed, failed, error, skipped, or why it gave none: lost, suspect, late, not-started, interrupted'),
        status: z.enum(['passed', 'failed', 'error', 'skipped']).optional().describe('for a late result: what it said'),
        reason: z.string().optional(),
        durationMs: z.number().optional(),
      }),
    )
    .optional()
    .describe('every attempt: batch, host, time, what it gave'),
});
export const verdictList = z.object({ verdicts: z.array(verdict) }).describe("a batch run's verdicts: exactly one per test");

// What the routes take. They validate with these schemas; the document shows the same ones.

export const submissionIdParam = z.string().regex(SUBMISSION_ID_PATTERN, 'is not a submission id');
export const jobIdParam = z.string().regex(JOB_ID_PATTERN, 'is not a job id');
export const hostIdParam = z.string().regex(HOST_ID_PATTERN, 'is not a host id');
export const batchRunNameParam = z.string().regex(NAME_PATTERN, 'is not a batch run name');

export const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('1 to 500'),
  state: z.enum(['running', 'done']).optional(),
  result: z.enum(RESULT_KINDS).optional(),
  host: z.string().optional().describe('ran (or runs) on this host'),
  q: z.string().max(200).optional().describe('text in the id, name or job names'),
  scenario: z.string().max(2000).optional().describe('has a job of this scenario (its key)'),
});
const byteCount = z.string().regex(/^\d{1,15}$/, 'must be a whole number of bytes').transform(Number);
export const logQuery = z.object({
  follow: z.enum(['1', 'true', '0', 'false']).optional().describe('1: follow live as Server-Sent Events (`start` with where it begins and the size so far, `log` chunks, then `end`)'),
  start: byteCount.optional().describe('byte offset to begin at (default 0)'),
  end: byteCount.optional().describe('byte offset to stop before (default: the end); not with follow'),
  tail: byteCount.optional().describe('only the last this many bytes (before `end`), from the start of a line: how the job page shows a large log'),
  token: z.string().optional().describe('the bearer token, for EventSource: accepted only with follow=1'),
});
export const eventsQuery = z.object({ token: z.string().optional().describe('the bearer token, for EventSource') });
export const offsetQuery = z.object({
  offset: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a byte offset in decimal digits')
    .transform(Number)
    .describe('byte offset of the chunk'),
});
export const batchTestsQuery = z.object({ offset: z.coerce.number().int().min(0), limit: z.coerce.number().int().min(1).max(100_000) });

export const reasonBody = z.strictObject({ reason: z.string().max(500).optional() }).default({}).describe('why (shown with the result)');
export const markBrokenBody = z.strictObject({ reason: z.string().min(1).max(500).optional() }).default({});
export const restartBody = z.strictObject({ children: z.boolean().default(true).describe('also re-run the jobs that depend on it') }).default({ children: true });
export const maintenanceBody = z.strictObject({ on: z.boolean() });
export const keepBody = z.strictObject({ keep: z.boolean().default(true).describe('false: unmark, retention applies again') }).default({ keep: true });
export const progressBody = z.strictObject({
  state: z.enum(['scheduled', 'provisioning', 'running', 'uploading']).optional(),
  progress: z
    .strictObject({
      module: z.string().max(200).optional(),
      percent: z.number().min(0).max(100).optional(),
      message: z.string().max(1000).optional(),
    })
    .optional(),
  savedBytes: z.number().int().min(0).optional(),
  testCode: z
    .strictObject({ commit: z.string().regex(/^[0-9a-f]{7,64}$/, 'a commit id'), log: z.array(z.string().max(300)).max(200).optional() })
    .optional()
    .describe('the test code the host checked out: its commit, and `git log --oneline` up to it from its mirror'),
});
export const testsBody = z.strictObject({
  tests: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(500),
        classname: z.string().max(500).optional(),
        status: z.enum(['passed', 'failed', 'error', 'skipped']),
        durationMs: z.number().min(0).optional(),
        message: z.string().max(10_000).optional(),
      }),
    )
    .max(100_000),
});

// The control worker's writes.
export const openJobBody = z.strictObject({
  jobId: z.string().regex(JOB_ID_PATTERN, 'is not a job id'),
  submissionId: z.string().regex(SUBMISSION_ID_PATTERN, 'is not a submission id'),
  name: z.string().min(1).max(300),
  attempt: z.number().int().min(1),
  setNumber: z.number().int().min(0),
  hostId: z.string().regex(HOST_ID_PATTERN, 'is not a host id'),
  leaseId: z.string().min(1).max(200),
});
export const finishJobBody = z.strictObject({
  leaseId: z.string().min(1).max(200),
  result: z.looseObject({ kind: z.enum(RESULT_KINDS) }),
});
export const batchTestsBody = z.strictObject({ tests: z.array(z.string().min(1).max(300)).max(1_000_000) });
export const verdictsBody = z.strictObject({
  offset: z.number().int().min(0),
  verdicts: z.array(z.looseObject({ test: z.string(), verdict: z.string(), attempts: z.number() })),
});
export const lateReportBody = z.strictObject({
  batchId: z.string().regex(BATCH_ID_PATTERN, 'a batch id <submission>.<run>.<batch>'),
  hostId: z.string().min(1).max(200),
  at: z.number().int().min(0),
  results: z.array(z.strictObject({ test: z.string(), status: z.enum(['passed', 'failed', 'error', 'skipped']), durationMs: z.number().min(0).optional(), message: z.string().optional() })).max(10_000),
});
export const submissionRecordBody = z
  .looseObject({ id: z.string(), createdAt: iso, workflowId: z.string(), submission: z.looseObject({ jobs: z.array(z.looseObject({})) }), plan })
  .describe('a submission record (id, spec, plan) the scheduler started itself (a health check)');
export const finalViewBody = z
  .looseObject({ id: z.string(), state: z.enum(['running', 'done']), jobs: z.array(z.looseObject({ id: z.string() })), recipeSets: z.array(z.looseObject({})) })
  .describe("a submission's final view (the shape of Submission)");
export const taskFailureReportBody = z.strictObject({ worker: z.string().min(1).max(200), total: z.number().int().min(0), recent: z.array(taskFailure).max(50) });
