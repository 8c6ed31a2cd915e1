/**
 * @module Search attributes Testbay sets on its workflows so operators can filter in
 * Temporal Web (`TestbaySubmission = "abc"`, `TestbayHost = "local-2"`, `TestbayResult =
 * "aborted"`), built by one function so every workflow stays within Temporal's limits.
 * The list is also what `testbay setup` registers on a namespace.
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import { utf8Length } from '../domain/text.js';

export const SubmissionKey = defineSearchAttributeKey('TestbaySubmission', SearchAttributeType.KEYWORD);
export const JobKey = defineSearchAttributeKey('TestbayJob', SearchAttributeType.KEYWORD_LIST);
export const HostKey = defineSearchAttributeKey('TestbayHost', SearchAttributeType.KEYWORD_LIST);
export const WorkerClassKey = defineSearchAttributeKey('TestbayWorkerClass', SearchAttributeType.KEYWORD_LIST);
export const ResultKey = defineSearchAttributeKey('TestbayResult', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [SubmissionKey, JobKey, HostKey, WorkerClassKey, ResultKey] as const;

/**
 * Temporal refuses a search attribute value over 2 KB (the whole JSON list for a keyword
 * list), and a workflow whose attributes it refuses is terminated. Values are kept under
 * this, dropping the list's tail; the result store indexes every job whatever the length.
 */
export const SEARCH_VALUE_MAX_BYTES = 1_900;
/** A memo entry shown in Temporal Web is cut at this length. */
export const MEMO_TEXT_MAX_CHARS = 1_000;

/** The longest head of `values` (duplicates dropped) whose JSON fits in `maxBytes`. */
export function fitList(values: readonly string[], maxBytes = SEARCH_VALUE_MAX_BYTES): string[] {
  const kept: string[] = [];
  let bytes = 2; // []
  for (const v of new Set(values)) {
    const size = utf8Length(JSON.stringify(v)) + (kept.length > 0 ? 1 : 0);
    if (bytes + size > maxBytes) break;
    kept.push(v);
    bytes += size;
  }
  return kept;
}

/** Text for a memo, cut with an ellipsis past `max` characters. */
export function memoText(text: string, max = MEMO_TEXT_MAX_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export interface WorkflowAttributes {
  submissionId: string;
  /** job names first, then ids: `TestbayJob = "install"` and `TestbayJob = "<submission>.3"` both find it */
  jobs?: readonly string[];
  workerClasses?: readonly string[];
  hosts?: readonly string[];
}

/** The search attributes of a submission, recipe set, chain or batch run workflow. */
export function workflowSearchAttributes(a: WorkflowAttributes): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [{ key: SubmissionKey, value: a.submissionId }];
  if (a.jobs && a.jobs.length > 0) pairs.push({ key: JobKey, value: fitList(a.jobs) });
  if (a.workerClasses && a.workerClasses.length > 0)
    pairs.push({ key: WorkerClassKey, value: fitList(a.workerClasses) });
  if (a.hosts && a.hosts.length > 0) pairs.push({ key: HostKey, value: fitList(a.hosts) });
  return pairs;
}
