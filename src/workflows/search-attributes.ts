/**
 * @module Search attributes Testbay sets on its workflows so operators can filter in
 * Temporal Web (`TestbaySubmission = "abc"`, `TestbayHost = "local-2"`, `TestbayResult =
 * "aborted"`). The list is also what `testbay setup` registers on a namespace.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SubmissionKey = defineSearchAttributeKey('TestbaySubmission', SearchAttributeType.KEYWORD);
export const JobKey = defineSearchAttributeKey('TestbayJob', SearchAttributeType.KEYWORD_LIST);
export const HostKey = defineSearchAttributeKey('TestbayHost', SearchAttributeType.KEYWORD_LIST);
export const WorkerClassKey = defineSearchAttributeKey('TestbayWorkerClass', SearchAttributeType.KEYWORD_LIST);
export const ResultKey = defineSearchAttributeKey('TestbayResult', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [SubmissionKey, JobKey, HostKey, WorkerClassKey, ResultKey] as const;
