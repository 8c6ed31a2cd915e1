/**
 * @module The result store's contract: submissions, job records (with the lease that may
 * write to them), logs, per-test results, artifacts, batch-run verdicts, retention and
 * live events. Finished results outlive Temporal's retention here. One implementation
 * (sql-store.ts) serves it from PostgreSQL or the embedded PGlite, with blobs in an
 * object store (S3 or a folder). Its promises hold across API servers sharing one
 * database, because the database checks them:
 * - a job record takes writes only under the lease it was opened with (fencing);
 * - a sealed (finished) job takes no more uploads;
 * - a log append at an offset is idempotent and a gap is refused;
 * - a submission's final view is written once; the first report of a batch wins.
 */
import type { ExtensionDecision, JobExtension } from '../../domain/deadline.js';
import type { LateReport } from '../../domain/batch-ledger.js';
import type { Readable } from 'node:stream';
import type { Submission } from '../../domain/job.js';
import type { Progress } from '../../domain/job-run.js';
import type { JobResult, ResultKind } from '../../domain/outcome.js';
import type { Plan } from '../../domain/plan.js';
import type { SubmissionView } from '../../domain/views.js';
import type { StoredVerdict, VerdictsBody } from '../../domain/wire/batch-runs.js';
import type {
  RetentionReport as WireRetentionReport,
  SubmissionSummary as WireSummary,
} from '../../domain/wire/submissions.js';
import type { ReviewStore } from './review-store.js';

/** scheduled: opened under a lease, waiting its turn on the host (provisioned or not) */
export type RecordedJobState = 'scheduled' | 'provisioning' | 'running' | 'uploading' | 'done';

export interface TestCaseResult {
  name: string;
  classname?: string;
  status: 'passed' | 'failed' | 'error' | 'skipped';
  durationMs?: number;
  message?: string;
}

export interface ArtifactInfo {
  name: string;
  sizeBytes: number;
}

export interface JobRecord {
  id: string;
  submissionId: string;
  name: string;
  attempt: number;
  setNumber: number;
  hostId: string;
  /** the scheduler's lease the job runs under (not a secret: it fences the control worker's writes) */
  leaseId: string;
  /**
   * the upload token: random, made when the record was opened, the only key to uploads for
   * this job (compared in constant time); it leaves the API only sealed
   */
  leaseToken: string;
  state: RecordedJobState;
  /** once sealed (the job ended), no upload is accepted, whatever the token */
  sealed: boolean;
  result?: JobResult;
  openedAt: string;
  startedAt?: string;
  endedAt?: string;
  /** the last time the host uploaded something for this job (log, progress, tests, a file): its last sign of life the API saw */
  lastUploadAt?: string;
  progress?: Progress;
  tests?: TestCaseResult[];
  artifacts: ArtifactInfo[];
  logBytes: number;
  /** bytes PNG optimisation saved */
  savedBytes?: number;
  /** when retention deleted its log and artifacts (the record stays) */
  purgedAt?: string;
  /** its scenario's key (scenario.ts), from the spec it was submitted with */
  scenario?: string;
  /** the test code the host checked out: the commit, and `git log --oneline` up to it from the host's mirror (newest first) */
  testCode?: { commit: string; log?: string[] };
  /** the host's capabilities when the job's record opened */
  hostCapabilities?: Record<string, string>;
  /** extensions of its deadline while it ran, in order (domain/deadline.ts) */
  extensions?: JobExtension[];
}

/** What the store keeps at hand of a job not sealed yet: no tests, artifacts or lease token. */
export type OpenJob = Pick<
  JobRecord,
  'id' | 'submissionId' | 'name' | 'attempt' | 'setNumber' | 'hostId' | 'state' | 'openedAt'
> &
  Partial<Pick<JobRecord, 'startedAt' | 'progress'>>;

export interface SubmissionRecord {
  id: string;
  createdAt: string;
  name?: string;
  submission: Submission;
  plan: Plan;
  workflowId: string;
  /** the final view, written when the submission workflow ends */
  final?: SubmissionView;
  /** this submission re-runs a job of another one */
  restartOf?: { submissionId: string; jobId: string };
  /** submissions that re-ran jobs of this one */
  restartedAs?: string[];
  /** kept beyond retention until unmarked (`testbay keep`) */
  keep?: boolean;
  /** the name of the token that submitted it (absent in records written before it was kept) */
  submittedBy?: string;
}

/** A submission in the list (its jobs' and batch runs' names, the hosts it ran on): the wire's shape (src/domain/wire/submissions.ts). */
export type SubmissionSummary = WireSummary;

export interface ListQuery {
  limit: number;
  state?: 'running' | 'done';
  result?: ResultKind;
  host?: string;
  text?: string;
  /** has a job record of this scenario */
  scenario?: string;
}

/** What a workflow asks for: a job record under its lease. */
export interface OpenJobRequest {
  jobId: string;
  submissionId: string;
  name: string;
  attempt: number;
  setNumber: number;
  hostId: string;
  leaseId: string;
}

/** What the store is given: the request and a fresh upload token (kept when the record is open already). */
export interface OpenJobInput extends OpenJobRequest {
  leaseToken: string;
}

/** A batch run's verdict for one test, kept beyond the workflow: the wire's shape (src/domain/wire/batch-runs.ts). */
export type BatchVerdict = StoredVerdict;

/** How long finished results are kept; a submission marked `keep` stays until unmarked. */
export interface RetentionPolicy {
  /** logs and artifacts of finished jobs (the records stay) */
  logsDays: number;
  /** submission and job records, with whatever is left of them */
  recordsDays: number;
}

/** What one retention pass deleted: the wire's report (src/domain/wire/submissions.ts) but the policy, which the caller knows. */
export type RetentionReport = Omit<WireRetentionReport, 'policy'>;

export interface ResultStore {
  /** scenarios' runs, comments, labels and the review list (review-store.ts) */
  readonly review: ReviewStore;
  createSubmission(record: SubmissionRecord): Promise<void>;
  /** Takes back a submission whose workflow never started (Temporal refused it). */
  dropSubmission(id: string): Promise<void>;
  getSubmission(id: string): Promise<SubmissionRecord | undefined>;
  /** Writes the final view, once: the same again is fine, another is a 'conflict'. */
  finishSubmission(view: SubmissionView): Promise<void>;
  /** Records that `restartId` re-runs jobs of submission `id`. */
  noteRestart(id: string, restartId: string): Promise<void>;
  listSubmissions(query: ListQuery): Promise<SubmissionSummary[]>;
  /** Marks a submission to keep beyond retention, or unmarks it. */
  setKeep(id: string, keep: boolean): Promise<void>;

  /** Creates the job record for an attempt, or returns it unchanged (its first token too) when already open under this lease; another lease is a 'conflict'. */
  openJob(input: OpenJobInput): Promise<JobRecord>;
  getJob(id: string): Promise<JobRecord | undefined>;
  /** Job records not sealed yet (on a host now, or waiting their turn there), of one host or all. */
  listOpenJobs(hostId?: string): Promise<OpenJob[]>;
  /**
   * The writes below take the job's lease token: another lease, or a sealed job, is a
   * 'conflict' (checked in the same transaction as the write).
   */
  /**
   * Adds an extension to a job's deadline if `decide` (given the job under its row lock)
   * says yes; returns the decision and the record as it is after.
   */
  extendJob(
    id: string,
    extension: JobExtension,
    decide: (job: JobRecord) => ExtensionDecision,
  ): Promise<{ decision: ExtensionDecision; job: JobRecord }>;
  updateJob(
    id: string,
    lease: string,
    patch: Partial<Pick<JobRecord, 'state' | 'progress' | 'startedAt' | 'tests' | 'savedBytes' | 'testCode'>>,
  ): Promise<JobRecord>;
  /** Records the result and seals the job against further uploads, under the job's lease id (a sealed job keeps its first result). */
  finishJob(id: string, leaseId: string, result: JobResult): Promise<JobRecord>;
  /** Appends at `offset` (idempotent: bytes already stored are acknowledged, a gap is refused). */
  appendLog(id: string, lease: string, offset: number, data: Buffer): Promise<{ size: number }>;
  /** The log from byte `start`: its chunks while the job runs, its object once sealed, as one stream. */
  readLog(id: string, start: number): Readable;
  /** Stores an artifact (replacing one of that name); a name that clashes with another's folder is a 'conflict'. */
  putArtifact(id: string, lease: string, name: string, body: Readable, maxBytes: number): Promise<ArtifactInfo>;
  openArtifact(id: string, name: string): Promise<Readable | undefined>;

  /** The test ids a batch run's testsCommand listed. */
  putBatchTests(submissionId: string, runName: string, tests: string[]): Promise<void>;
  /** A slice of a batch run's test ids (given in the spec, or listed on a host). */
  getBatchTests(submissionId: string, runName: string, offset: number, limit: number): Promise<string[]>;
  putBatchVerdicts(runJobId: string, offset: number, verdicts: VerdictsBody['verdicts']): Promise<void>;
  /** with the late reports of fenced batches merged into their tests' history */
  getBatchVerdicts(runJobId: string): Promise<BatchVerdict[]>;
  /** Keeps a fenced batch's results that came after its verdicts were stored (the first report of a batch wins). */
  addLateReport(runJobId: string, report: LateReport): Promise<void>;

  /** Deletes what is older than the policy allows, never of a running or kept submission. */
  applyRetention(policy: RetentionPolicy, now?: Date): Promise<RetentionReport>;

  /**
   * Every change, from every API server on this database: log appends, job changes, a
   * submission created or ended (a `resync` after the events' connection was lost).
   */
  subscribe(listener: (event: StoreEvent) => void): () => void;
  close(): Promise<void>;
}

/** What a job change event says: enough to route it; the record is a read away. */
export interface JobChange {
  id: string;
  submissionId: string;
  state: RecordedJobState;
  sealed: boolean;
  attempt: number;
  startedAt?: string;
  result?: { kind: ResultKind; cause?: string };
}

export type StoreEvent =
  | { kind: 'log'; id: string; size: number }
  | { kind: 'job'; job: JobChange }
  | { kind: 'submission'; id: string }
  /** events may have been missed: whoever follows something should look again */
  | { kind: 'resync' };

export class StoreError extends Error {
  constructor(
    readonly code: 'not-found' | 'conflict' | 'too-large' | 'bad-name',
    message: string,
  ) {
    super(message);
  }
}
