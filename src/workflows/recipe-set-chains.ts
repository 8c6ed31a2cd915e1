/**
 * @module startChains: a recipe set starts one chain per leased host, all together, as
 * children under deterministic ids that the set's cancel reaches. Each chain is told where
 * every job of the set runs (TESTBAY_PARTNERS) and, in a parallel set that stops partners,
 * whom to tell about a failed or aborted job.
 */
import { ParentClosePolicy, startChild, type ChildWorkflowHandle } from '@temporalio/workflow';
import type { ChainJob } from '../domain/chain.js';
import { chainWorkflowId, CONTROL_TASK_QUEUE } from '../domain/ids.js';
import type { RunConfig } from '../domain/job-run.js';
import { partnersOf } from '../domain/partners.js';
import { chainWorkflow } from './chain.js';
import type { LeaseGrant } from './lease-client.js';
import { memoText, workflowSearchAttributes } from './search-attributes.js';

/** What the chains need of the recipe set's input. */
export interface ChainsInput {
  submissionId: string;
  setNumber: number;
  attempt: number;
  recipes: { workerClass: string; jobs: ChainJob[] }[];
  config: RunConfig;
  pool?: string;
  stopPartnersOnFailure?: false;
  submittedBy?: string;
}

/** Starts the chains, one per recipe on its lease; `requestId` is the recipe set's workflow id. */
export function startChains(
  input: ChainsInput,
  leases: LeaseGrant['leases'],
  requestId: string,
): Promise<ChildWorkflowHandle<typeof chainWorkflow>[]> {
  // Partners are told about one another (TESTBAY_PARTNERS): every job, where it runs.
  const stopsPartners = input.recipes.length > 1 && input.stopPartnersOnFailure !== false;
  const partners = partnersOf(input.recipes, leases);
  return Promise.all(
    input.recipes.map((recipe, i) =>
      startChild(chainWorkflow, {
        workflowId: chainWorkflowId(input.submissionId, input.setNumber, leases[i]!.hostId),
        taskQueue: CONTROL_TASK_QUEUE,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: workflowSearchAttributes({
          submissionId: input.submissionId,
          hosts: [leases[i]!.hostId],
          jobs: [...recipe.jobs.map((j) => j.name), ...recipe.jobs.map((j) => j.id)],
          workerClasses: [recipe.workerClass],
        }),
        memo: { jobs: memoText(recipe.jobs.map((j) => j.name).join(', ')) },
        args: [
          {
            submissionId: input.submissionId,
            setNumber: input.setNumber,
            attempt: input.attempt,
            hostId: leases[i]!.hostId,
            leaseId: leases[i]!.token,
            jobs: recipe.jobs,
            config: input.config,
            ...(input.pool !== undefined ? { pool: input.pool } : {}),
            partners,
            ...(stopsPartners ? { reportFaultsTo: requestId } : {}),
            ...(input.submittedBy !== undefined ? { submittedBy: input.submittedBy } : {}),
          },
        ],
      }),
    ),
  );
}
