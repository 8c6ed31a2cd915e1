/**
 * @module The host's activities, built from its dependencies: holdPresence, provision,
 * runTests, uploadResults, and for batch runs runBatch, listTests and readListedTests. Workflows import
 * only the type.
 */
import type { HostDeps } from './deps.js';
import { createHoldPresence } from './presence.js';
import { createProvision } from './provision.js';
import { createRunTests } from './run-tests.js';
import type { HostSteps } from './steps.js';
import { createUploadResults } from './upload-results.js';
import { createListTests, createReadListedTests } from './list-tests.js';
import { createRunBatch } from './run-batch.js';

export type { HostDeps } from './deps.js';
export type { HostSteps } from './steps.js';

export function createHostActivities(deps: HostDeps, steps: HostSteps = {}) {
  return {
    holdPresence: createHoldPresence(deps),
    provision: createProvision(deps, steps),
    runTests: createRunTests(deps, steps),
    uploadResults: createUploadResults(deps, steps),
    runBatch: createRunBatch(deps),
    listTests: createListTests(deps),
    readListedTests: createReadListedTests(deps),
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;
