/**
 * @module Messages of the batch-run workflow: the live view query the API uses, and the
 * late results a host sends for a batch the run already gave up (the `cancel` signal is
 * shared, in messages.ts).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LateResults } from '../domain/batch-work.js';
import type { BatchRunView } from '../domain/views.js';

export const batchRunQuery = defineQuery<BatchRunView>('batchRun');
/** A fenced attempt's results: kept in the tests' history, never a verdict. */
export const lateResultsSignal = defineSignal<[LateResults]>('lateResults');
