/**
 * @module Messages between a recipe set and its chains: a chain reports a failed or
 * aborted job (so parallel partners can be stopped), and a partner stop reaches a chain.
 */
import { defineSignal } from '@temporalio/workflow';
import type { JobResult } from '../domain/outcome.js';

export interface ChainFault {
  hostId: string;
  jobName: string;
  result: JobResult;
}

export const chainFaultSignal = defineSignal<[ChainFault]>('chainFault');
/** Stops a chain because a partner failed: its jobs end `skipped` with the reason. */
export const partnerStopSignal = defineSignal<[{ reason: string }]>('partnerStop');

/** Sent by a recipe set to its submission once its hosts are leased. */
export const setLeasedSignal = defineSignal<[{ setNumber: number; hosts: string[] }]>('setLeased');
