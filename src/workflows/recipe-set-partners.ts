/**
 * @module The partner side of a recipe set's workflow: it holds the set's barriers and
 * messages (domain/partners.ts decides) and answers its runners' updates. An update waits
 * for its answer at most its `waitMs` (the API's long-poll window), so no call is parked for
 * long and the runner calls again to wait on. State lives in the workflow, so it outlasts a
 * restart of the API or of the control worker.
 */
import { HandlerUnfinishedPolicy } from '@temporalio/common';
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import { ErrorType } from '../domain/errors.js';
import {
  arrive,
  barrierState,
  cannotArrive,
  cannotSend,
  emptyPartnerState,
  notAPartner,
  receiveState,
  send,
  type PartnerState,
  type SetMembers,
} from '../domain/partners.js';
import {
  barrierUpdate,
  receiveUpdate,
  sendUpdate,
  type BarrierRequest,
  type ReceiveRequest,
  type SendRequest,
} from './recipe-set-messages.js';

/** The longest wait one update may ask for: the API caps it lower (its long-poll window). */
const MAX_WAIT_MS = 60_000;

/** A validator's refusal: the update is rejected, nothing enters the history. */
const check = (problem: string | undefined): void => {
  if (problem !== undefined)
    throw ApplicationFailure.create({ type: ErrorType.NotAPartner, message: problem, nonRetryable: true });
};

export interface PartnerBoard {
  /** a recipe's chain ended: its jobs reach no barrier and send nothing any more */
  ended(recipe: number): void;
}

/** Sets the handlers of the set's barriers and messages. */
export function partnerBoard(recipes: readonly { jobs: readonly { id: string; name: string }[] }[]): PartnerBoard {
  const members: SetMembers = { recipeOf: {}, nameOf: {}, recipeCount: recipes.length };
  recipes.forEach((r, i) => {
    for (const j of r.jobs) {
      members.recipeOf[j.name] = i;
      members.nameOf[j.id] = j.name;
    }
  });
  const state: PartnerState = emptyPartnerState();
  const wait = async <T extends { state: string }>(answer: () => T, waitMs: number): Promise<T> => {
    if (answer().state === 'waiting' && waitMs > 0)
      await condition(() => answer().state !== 'waiting', Math.min(waitMs, MAX_WAIT_MS));
    return answer();
  };
  const options = { unfinishedPolicy: HandlerUnfinishedPolicy.ABANDON };
  setHandler(
    barrierUpdate,
    async ({ jobId, barrier, waitMs }) => {
      const name = members.nameOf[jobId]!;
      arrive(state, members, name, barrier);
      return wait(() => barrierState(state, members, barrier), waitMs);
    },
    {
      ...options,
      validator: ({ jobId, barrier }: BarrierRequest) =>
        check(notAPartner(members, jobId) ?? cannotArrive(state, barrier)),
    },
  );
  setHandler(
    sendUpdate,
    ({ jobId, key, value }) => {
      send(state, members.nameOf[jobId]!, key, value);
      return Promise.resolve({ key });
    },
    {
      ...options,
      validator: ({ jobId, key, value }: SendRequest) =>
        check(notAPartner(members, jobId) ?? cannotSend(state, members.nameOf[jobId]!, key, value)),
    },
  );
  setHandler(
    receiveUpdate,
    ({ jobId, key, from, waitMs }) =>
      wait(() => receiveState(state, members, members.nameOf[jobId]!, key, from), waitMs),
    { ...options, validator: ({ jobId, from }: ReceiveRequest) => check(notAPartner(members, jobId, from)) },
  );
  return {
    ended: (recipe) => {
      if (!state.ended.includes(recipe)) state.ended.push(recipe);
    },
  };
}
