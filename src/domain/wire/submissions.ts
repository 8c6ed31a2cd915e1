/**
 * @module A submission on the wire: its view (jobs, recipe sets, batch runs), the list's
 * summaries and query, what a POST or a cancel answers, retention's report, and what the
 * control worker writes (a record it started itself, a final view).
 */
import { z } from 'zod';
import { SUBMISSION_ID_PATTERN } from '../ids.js';
import { normalisedSubmission } from '../normalised-submission.js';
import { RESULT_KINDS } from '../outcome.js';
import { batchRun } from './batch-runs.js';
import { iso } from './common.js';
import { job } from './jobs.js';

export const recipeSet = z.object({
  number: z.number().int(),
  planIndex: z.number().int(),
  attempt: z.number().int(),
  state: z.enum(['waiting', 'leasing', 'running', 'done']),
  jobIds: z.array(z.string()),
  hosts: z.array(z.string()),
  excludedHosts: z.array(z.string()),
  clonedFrom: z.number().int().exactOptional(),
  notRetried: z.string().exactOptional(),
  workflowId: z.string(),
});

export const submission = z.object({
  id: z.string(),
  name: z.string().exactOptional(),
  state: z.enum(['running', 'done']),
  result: z.enum(RESULT_KINDS).exactOptional(),
  createdAt: iso,
  endedAt: iso.exactOptional(),
  workflowId: z.string(),
  jobs: z.array(job),
  recipeSets: z.array(recipeSet),
  batchRuns: z.array(batchRun).exactOptional(),
  notice: z.string().exactOptional(),
  restartOf: z.object({ submissionId: z.string(), jobId: z.string() }).exactOptional(),
  restartedAs: z.array(z.string()).exactOptional(),
  keep: z.boolean().exactOptional().describe('kept beyond retention until unmarked (testbay keep)'),
  submittedBy: z
    .string()
    .exactOptional()
    .describe(
      'the name of the token that submitted it: who a reservation after its jobs is for, who may lower its priority',
    ),
});

export const submissionSummary = z.object({
  id: z.string(),
  name: z.string().exactOptional(),
  createdAt: iso,
  endedAt: iso.exactOptional(),
  state: z.enum(['running', 'done']),
  result: z.enum(RESULT_KINDS).exactOptional(),
  jobNames: z.array(z.string()),
  hosts: z.array(z.string()),
  keep: z.boolean().exactOptional().describe('kept beyond retention until unmarked'),
});

export const submissionList = z.object({ submissions: z.array(submissionSummary) });
/** A submission in the list: the store's summary, as `GET /submissions` returns it. */
export type SubmissionSummary = z.infer<typeof submissionSummary>;

export const accepted = z.object({
  id: z.string(),
  workflowId: z.string(),
  jobs: z.array(z.object({ id: z.string(), name: z.string() })),
});

export const cancelling = z
  .object({ id: z.string(), cancelling: z.boolean(), result: z.enum(RESULT_KINDS).optional() })
  .describe(
    'cancelling: true (202), or false with the result it was recorded as (200) when its workflow was already gone',
  );

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
/** What one retention pass deleted, and the policy it applied. */
export type RetentionReport = z.infer<typeof retentionReport>;

export const plan = z
  .looseObject({
    jobs: z.array(z.looseObject({ name: z.string() })),
    recipes: z.array(z.looseObject({})),
    recipeSets: z.array(z.looseObject({})),
  })
  .describe("the planner's output: jobs with their dependencies, chains (recipes) and recipe sets");

export const submissionIdParam = z.string().regex(SUBMISSION_ID_PATTERN, 'is not a submission id');

export const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('1 to 500'),
  state: z.enum(['running', 'done']).optional(),
  result: z.enum(RESULT_KINDS).optional(),
  host: z.string().optional().describe('ran (or runs) on this host'),
  q: z.string().max(200).optional().describe('text in the id, name or job names'),
  scenario: z.string().max(2000).optional().describe('has a job of this scenario (its key)'),
});

export const keepBody = z
  .strictObject({ keep: z.boolean().default(true).describe('false: unmark, retention applies again') })
  .default({ keep: true });

export const submissionRecordBody = z
  .strictObject({
    id: submissionIdParam,
    createdAt: iso,
    workflowId: z.string(),
    name: z.string().exactOptional(),
    submission: normalisedSubmission,
    plan: plan.describe('buildPlan of the submission: the API builds it again and refuses a body whose plan differs'),
  })
  .describe('a submission record (id, normalised spec, plan) the scheduler started itself (a health check)');

export const finalViewBody = submission.describe("a submission's final view (the shape of Submission)");
