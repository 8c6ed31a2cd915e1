/**
 * @module The `cancel` signal every Testbay workflow answers (submission, recipe set,
 * chain). The API imports it; workflows import it. No workflow code here.
 */
import { defineSignal } from '@temporalio/workflow';

export interface CancelRequest {
  /** shown as the cancelled jobs' reason */
  reason?: string;
  /** cancel only the chain holding this job (and stop its parallel partners) */
  jobId?: string;
}

export const cancelSignal = defineSignal<[CancelRequest]>('cancel');
