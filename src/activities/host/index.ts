/**
 * @module The host's activities, built from its dependencies: holdPresence, provision,
 * runTests, uploadResults. Workflows import only the type.
 */
import type { HostDeps } from './deps.js';
import { createHoldPresence } from './presence.js';
import { createProvision, type ProvisionSteps } from './provision.js';
import { createRunTests } from './run-tests.js';
import { createUploadResults, type UploadSteps } from './upload-results.js';

export type { HostDeps } from './deps.js';

export function createHostActivities(deps: HostDeps, steps: ProvisionSteps & UploadSteps = {}) {
  return {
    holdPresence: createHoldPresence(deps),
    provision: createProvision(deps, steps),
    runTests: createRunTests(deps),
    uploadResults: createUploadResults(deps, steps),
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;
