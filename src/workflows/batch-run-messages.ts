/**
 * @module Messages of the batch-run workflow the API uses: the live view query (the
 * `cancel` signal is shared, in messages.ts).
 */
import { defineQuery } from '@temporalio/workflow';
import type { BatchRunView } from '../domain/views.js';

export const batchRunQuery = defineQuery<BatchRunView>('batchRun');
