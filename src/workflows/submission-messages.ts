/**
 * @module Messages of the submission workflow the API uses: the job-table query (the
 * `cancel` signal is shared, in messages.ts).
 */
import { defineQuery } from '@temporalio/workflow';
import type { SubmissionView } from '../domain/views.js';

export const submissionQuery = defineQuery<SubmissionView>('submission');
