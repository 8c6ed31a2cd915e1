/**
 * @module Opens what a host activity's input carries sealed (the job record's upload
 * token, the job's secrets), at the edge, so everything past it reads plain values. Only
 * the host and the API hold the payload key; in Temporal these stay ciphertext.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ErrorType } from '../../domain/errors.js';
import type { JobRun } from '../../domain/job-run.js';
import type { BatchAssignment } from '../../domain/batch-work.js';
import { isSealed, type PayloadKey } from '../../sealing.js';

type Sealed = { submissionId: string; leaseToken: string; secrets?: Record<string, string> };

function openAll<T extends Sealed>(key: PayloadKey | undefined, input: T): T {
  const sealed = isSealed(input.leaseToken) || Object.keys(input.secrets ?? {}).length > 0;
  if (!sealed) return input;
  if (!key)
    throw ApplicationFailure.create({
      type: ErrorType.BrokenSetup,
      message:
        "this host has no payload key (TESTBAY_PAYLOAD_KEY or the key file) and cannot open a job's upload token or secrets",
      nonRetryable: true,
    });
  try {
    const leaseToken = isSealed(input.leaseToken) ? key.open(input.leaseToken, input.submissionId) : input.leaseToken;
    const secrets = input.secrets ? key.openAll(input.secrets, input.submissionId) : undefined;
    return { ...input, leaseToken, ...(secrets ? { secrets } : {}) };
  } catch (err) {
    // Sealed with another key (this host's is not the API's), or for another submission.
    throw ApplicationFailure.create({
      type: ErrorType.BrokenSetup,
      message: `cannot open the job's sealed values: ${(err as Error).message}`,
      nonRetryable: true,
    });
  }
}

export const openRun = (key: PayloadKey | undefined, run: JobRun): JobRun => openAll(key, run);
export const openBatch = (key: PayloadKey | undefined, batch: BatchAssignment): BatchAssignment => openAll(key, batch);
