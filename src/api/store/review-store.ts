/**
 * @module The result store's side for people acting on results: a scenario's runs (its
 * history, its last good run, its previous failure), comments on jobs and submissions,
 * labels on jobs, and the jobs that need review. Everything here is read from the
 * database, so it outlives Temporal's retention; retention deletes it with its submission.
 */
import type { JobResult, ResultKind } from '../../domain/outcome.js';
import type { RecordedJobState } from './result-store.js';

/** One run of a scenario: a job record (an attempt), or one test's verdict in a batch run. */
export interface ScenarioRun {
  jobId: string;
  submissionId: string;
  name: string;
  attempt: number;
  hostId?: string;
  state: RecordedJobState;
  result?: JobResult;
  openedAt: string;
  startedAt?: string;
  endedAt?: string;
  /** the test code's commit the host checked out */
  testsCommit?: string;
}

export interface ScenarioRunQuery {
  limit: number;
  /** only runs with this result */
  result?: ResultKind;
  /** only runs opened before this job's record (newest first) */
  before?: string;
  /** only runs opened after this job's record */
  after?: string;
  /** oldest first (default: newest first) */
  oldestFirst?: boolean;
}

export interface Comment {
  id: number;
  /** a job id (`<submission>.<n>`) or a submission id */
  targetId: string;
  submissionId: string;
  /** the token's name */
  author: string;
  text: string;
  createdAt: string;
  /** set on a comment the carry-over rule wrote: the job whose bug references it carries */
  carriedOverFrom?: string;
}

export interface Label {
  label: string;
  addedBy: string;
  addedAt: string;
}

/** A failed job no one has commented on yet. */
export interface ReviewItem {
  jobId: string;
  submissionId: string;
  name: string;
  hostId: string;
  endedAt?: string;
  result: JobResult;
  scenario?: string;
  labels: string[];
}

export interface ReviewStore {
  /** A scenario's runs by its key (scenario.ts); a key with `/<test>` lists that test's verdicts in batch runs. */
  scenarioRuns(key: string, query: ScenarioRunQuery): Promise<ScenarioRun[]>;
  /** Adds a comment; the submission (or the job's submission) must exist, else 'not-found'. */
  addComment(input: { targetId: string; author: string; text: string; carriedOverFrom?: string }): Promise<Comment>;
  /** Comments on one job or submission, oldest first. */
  listComments(targetId: string): Promise<Comment[]>;
  /** Adds (`on`) or removes a label of a job; answers the job's labels after it. */
  setLabel(jobId: string, label: string, by: string, on: boolean): Promise<Label[]>;
  listLabels(jobId: string): Promise<Label[]>;
  /** Records the host's capabilities with a job record (the first time only). */
  recordHostCapabilities(jobId: string, capabilities: Record<string, string>): Promise<void>;
  /** Failed jobs without a comment, newest first (batches of batch runs are reviewed by their tests' verdicts, not here). */
  needsReview(limit: number): Promise<ReviewItem[]>;
}
