/**
 * @module Updates a recipe set's workflow answers for its runners (through the API, with a
 * job token): barriers and messages between partners. Each call waits at most `waitMs`
 * (a long-poll window) and says where things stand; the caller calls again to wait longer.
 * The API imports these; the recipe set sets their handlers. No workflow code here.
 */
import { defineUpdate } from '@temporalio/workflow';
import type { BarrierAnswer, ReceiveAnswer } from '../domain/partners.js';

export type { BarrierAnswer, ReceiveAnswer };

export interface BarrierRequest {
  jobId: string;
  barrier: string;
  waitMs: number;
}

export interface SendRequest {
  jobId: string;
  key: string;
  value: string;
}

export interface ReceiveRequest {
  jobId: string;
  key: string;
  /** only a message of this job (a name) */
  from?: string;
  waitMs: number;
}

export const barrierUpdate = defineUpdate<BarrierAnswer, [BarrierRequest]>('partnerBarrier');
export const sendUpdate = defineUpdate<{ key: string }, [SendRequest]>('partnerSend');
export const receiveUpdate = defineUpdate<ReceiveAnswer, [ReceiveRequest]>('partnerReceive');
