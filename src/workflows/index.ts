/**
 * @module Every workflow, for the control worker's bundle.
 */
export { submissionWorkflow } from './submission.js';
export { recipeSetWorkflow } from './recipe-set.js';
export { chainWorkflow } from './chain.js';
export { schedulerWorkflow } from './scheduler.js';
export { batchRunWorkflow } from './batch-run.js';
export { reconcileWorkflow } from './reconcile.js';
export { retentionWorkflow } from './retention.js';
export { webhookDeliveryWorkflow } from './webhook-delivery.js';
export { powerHostWorkflow } from './power-host.js';
export { loanWorkflow } from './loan.js';
