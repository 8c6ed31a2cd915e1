/**
 * @module The host's activities, built from its dependencies: holdPresence, provision,
 * runTests, uploadResults, recoverHost and powerHost (the host config's hooks),
 * startReservation and endReservation, and for batch runs runBatch, listTests and
 * readListedTests. Workflows import only the type.
 *
 * This folder holds two kinds of module:
 * - **activities**, one contract each: presence.ts, provision.ts, run-tests.ts,
 *   upload-results.ts, run-batch.ts, list-tests.ts, host-commands.ts (recover, power),
 *   reservation.ts;
 * - **the host's runtime**, which the activities share:
 *   - a runner's lifecycle: runner-session.ts (log, spawn, heartbeat, uploads, cancel,
 *     clean-up, for job runs, batches and listing), run-gate.ts (the order of runs),
 *     process-group.ts, runner-guard.ts (+ .js), reaper.ts, runner-user.ts;
 *   - what a runner sees: runner-env.ts, sealed-inputs.ts, secret-mask.ts, cli-shim.ts;
 *   - what it leaves: capped-log.ts, log-sync.ts, progress.ts, test-results.ts, junit.ts,
 *     results-worker.js, tests-upload.ts, artifact-sync.ts, png-optimiser.ts;
 *   - caches and inputs: steps.ts, asset-cache.ts, asset-allow.ts, download.ts,
 *     file-lock.ts, test-code.ts;
 *   - the host itself: deps.ts, host-config.ts, host-hooks.ts, setup-check.ts,
 *     presence-watch.ts.
 */
import type { HostDeps } from './deps.js';
import { createHoldPresence } from './presence.js';
import { createProvision } from './provision.js';
import { createRunTests } from './run-tests.js';
import type { HostSteps } from './steps.js';
import { createUploadResults } from './upload-results.js';
import { createListTests, createReadListedTests } from './list-tests.js';
import { createRunBatch } from './run-batch.js';
import { createReservationActivities, type ReservationOnHost } from './reservation.js';
import { openBatch, openRun } from './sealed-inputs.js';
import { createPowerHost, createRecoverHost } from './host-commands.js';

export type { HostDeps } from './deps.js';
export type { HostSteps } from './steps.js';

export function createHostActivities(deps: HostDeps, steps: HostSteps = {}) {
  const provision = createProvision(deps, steps);
  const runTests = createRunTests(deps, steps);
  const uploadResults = createUploadResults(deps, steps);
  const runBatch = createRunBatch(deps);
  const reservation = createReservationActivities(deps);
  const key = deps.payloadKey;
  const opened = (r: ReservationOnHost): ReservationOnHost => (r.run ? { ...r, run: openRun(key, r.run) } : r);
  // What comes sealed through Temporal is opened here, once, for all that follows.
  return {
    holdPresence: createHoldPresence(deps),
    provision: (run: Parameters<typeof provision>[0]) => provision(openRun(key, run)),
    runTests: (input: Parameters<typeof runTests>[0]) => runTests({ ...input, run: openRun(key, input.run) }),
    uploadResults: (input: Parameters<typeof uploadResults>[0]) =>
      uploadResults({ ...input, run: openRun(key, input.run) }),
    runBatch: (batch: Parameters<typeof runBatch>[0]) => runBatch(openBatch(key, batch)),
    listTests: createListTests(deps),
    readListedTests: createReadListedTests(deps),
    recoverHost: createRecoverHost(deps),
    powerHost: createPowerHost(deps),
    startReservation: (r: ReservationOnHost) => reservation.startReservation(opened(r)),
    endReservation: (r: ReservationOnHost) => reservation.endReservation(opened(r)),
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;
