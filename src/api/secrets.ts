/**
 * @module A submission's secrets at the API: sealed for the submission as it is accepted
 * (so the store, the plan and Temporal hold only ciphertext), opened and sealed again for a
 * restart's new submission, and masked wherever a person reads a spec or a plan.
 */
import type { Submission } from '../domain/job.js';
import type { PayloadKey } from '../sealing.js';

export const MASKED = '(secret)';

type WithSecrets = { secrets?: Record<string, string> };

function mapSecrets<T extends { jobs: WithSecrets[]; batchRuns?: WithSecrets[] }>(
  value: T,
  fn: (secrets: Record<string, string>) => Record<string, string>,
): T {
  const each = <J extends WithSecrets>(j: J): J => (j.secrets ? { ...j, secrets: fn(j.secrets) } : j);
  return { ...value, jobs: value.jobs.map(each), ...(value.batchRuns ? { batchRuns: value.batchRuns.map(each) } : {}) };
}

/**
 * Seals every secret of `submission` for the submission `id`. A restart passes the
 * submission it re-runs (`from`): its secrets are sealed for that one and are opened first.
 */
export function sealSecrets(key: PayloadKey, submission: Submission, id: string, from?: string): Submission {
  return mapSecrets(submission, (secrets) =>
    key.sealAll(from === undefined ? secrets : key.openAll(secrets, from), id),
  );
}

/** A spec or plan as readers see it: each secret's name, never its value (not even sealed). */
export function maskSecrets<T extends { jobs: WithSecrets[]; batchRuns?: WithSecrets[] }>(value: T): T {
  return mapSecrets(value, (secrets) => Object.fromEntries(Object.keys(secrets).map((k) => [k, MASKED])));
}
