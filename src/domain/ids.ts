/**
 * @module Names of things in Temporal: task queues and workflow ids that read well in
 * Temporal Web (`sub-<id>`, `rs-<id>-<n>`, `chain-<id>-<n>-<host>`, `batch-<id>-<n>`), and
 * the id formats of submissions, jobs, batches and hosts: each built, matched and parsed
 * here only.
 */

export const CONTROL_TASK_QUEUE = 'testbay-control';
/** The scheduler of the `default` pool; every other pool's is `testbay-scheduler-<pool>` (schedulerWorkflowId). */
export const SCHEDULER_WORKFLOW_ID = 'testbay-scheduler';
/** The pool of a host, job or batch run that names none. */
export const DEFAULT_POOL = 'default';
/** Pool names: like a host id, short enough to read in a workflow id. */
export const POOL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const SCHEDULER_PREFIX = `${SCHEDULER_WORKFLOW_ID}-`;

/**
 * The workflow id of a pool's scheduler. The default pool keeps the id a lab had before
 * pools existed, so running labs, saved queries and recorded histories keep working.
 */
export const schedulerWorkflowId = (pool: string = DEFAULT_POOL) =>
  pool === DEFAULT_POOL ? SCHEDULER_WORKFLOW_ID : `${SCHEDULER_PREFIX}${pool}`;
/** The pool whose scheduler has this workflow id; undefined for any other id. */
export function poolOfSchedulerId(workflowId: string): string | undefined {
  if (workflowId === SCHEDULER_WORKFLOW_ID) return DEFAULT_POOL;
  if (!workflowId.startsWith(SCHEDULER_PREFIX)) return undefined;
  const pool = workflowId.slice(SCHEDULER_PREFIX.length);
  return POOL_PATTERN.test(pool) && pool !== DEFAULT_POOL ? pool : undefined;
}
/** the Temporal Schedule of the result store's daily cleanup */
export const RETENTION_SCHEDULE_ID = 'testbay-retention';

/** A host's own task queue: only that host's worker polls it. */
export const hostTaskQueue = (hostId: string) => `host/${hostId}`;

export const submissionWorkflowId = (submissionId: string) => `sub-${submissionId}`;
export const recipeSetWorkflowId = (submissionId: string, setNumber: number) => `rs-${submissionId}-${setNumber}`;
export const chainWorkflowId = (submissionId: string, setNumber: number, hostId: string) =>
  `chain-${submissionId}-${setNumber}-${hostId}`;

/** Job ids are `<submissionId>.<n>`: n counts every job of the submission, clones included. */
export const jobId = (submissionId: string, n: number) => `${submissionId}.${n}`;
export const submissionOfJob = (id: string) => parseJobId(id).submissionId;
/** A batch of a batch run has its own record: `<submission>.<run number>.<batch number>`. */
export const batchId = (runJobId: string, n: number) => `${runJobId}.${n}`;
export const batchRunWorkflowId = (submissionId: string, runNumber: number) => `batch-${submissionId}-${runNumber}`;

export const HOST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const SUBMISSION_ID_PATTERN = /^[a-z0-9]{6,32}$/;
export const JOB_ID_PATTERN = /^[a-z0-9]{6,32}\.[0-9]{1,6}(\.[0-9]{1,9})?$/;
/** A batch of a batch run: `<submission>.<run number>.<batch number>`. */
export const BATCH_ID_PATTERN = /^[a-z0-9]{6,32}\.[0-9]{1,6}\.[0-9]{1,9}$/;

/** An id's parts by its shape: a submission has no dot, a job (or batch run) one, a batch of a batch run two. */
export type ParsedJobId =
  | { kind: 'submission'; submissionId: string }
  | { kind: 'other'; submissionId: string }
  | { kind: 'job'; submissionId: string; number: number }
  | { kind: 'batch'; submissionId: string; number: number; batch: number; runJobId: string };

/**
 * What an id names, by its shape (whether it is well formed is the patterns' business: an
 * id from outside is matched against them at the edge). A submission id parses as itself.
 */
export function parseJobId(id: string): ParsedJobId {
  const [submissionId = '', number, batch, ...more] = id.split('.');
  if (number === undefined) return { kind: 'submission', submissionId };
  if (batch === undefined) return { kind: 'job', submissionId, number: Number(number) };
  if (more.length > 0) return { kind: 'other', submissionId };
  return {
    kind: 'batch',
    submissionId,
    number: Number(number),
    batch: Number(batch),
    runJobId: jobId(submissionId, Number(number)),
  };
}

/** What a Testbay workflow id names; undefined for ids of other workflows (the scheduler's, a schedule's). */
export type ParsedWorkflowId =
  | { kind: 'submission'; submissionId: string }
  | { kind: 'recipe-set'; submissionId: string; setNumber: number }
  | { kind: 'chain'; submissionId: string; setNumber: number; hostId: string }
  | { kind: 'batch-run'; submissionId: string; runNumber: number };

const WORKFLOW_ID_PATTERNS = {
  submission: /^sub-([a-z0-9]+)$/,
  'recipe-set': /^rs-([a-z0-9]+)-([0-9]+)$/,
  chain: /^chain-([a-z0-9]+)-([0-9]+)-(.+)$/,
  'batch-run': /^batch-([a-z0-9]+)-([0-9]+)$/,
} as const;

export function parseWorkflowId(id: string): ParsedWorkflowId | undefined {
  let m: RegExpExecArray | null;
  if ((m = WORKFLOW_ID_PATTERNS.submission.exec(id))) return { kind: 'submission', submissionId: m[1]! };
  if ((m = WORKFLOW_ID_PATTERNS['recipe-set'].exec(id)))
    return { kind: 'recipe-set', submissionId: m[1]!, setNumber: Number(m[2]) };
  if ((m = WORKFLOW_ID_PATTERNS.chain.exec(id)))
    return { kind: 'chain', submissionId: m[1]!, setNumber: Number(m[2]), hostId: m[3]! };
  if ((m = WORKFLOW_ID_PATTERNS['batch-run'].exec(id)))
    return { kind: 'batch-run', submissionId: m[1]!, runNumber: Number(m[2]) };
  return undefined;
}

/** A loan of a host (`testbay reserve`): one workflow per loan. */
export const loanWorkflowId = (hostId: string, stamp: string) => `loan-${hostId}-${stamp}`;
