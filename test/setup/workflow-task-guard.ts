/**
 * Runs around every test of the suite: a workflow task that failed during the test (or
 * in the set-up before it) fails the test, naming the run and the failure. A stuck
 * workflow is a bug even when the test's own assertions pass.
 */
import { afterEach, beforeEach } from 'vitest';
import { newFailures } from '../helpers/task-failure-guard.js';

const check = async (when: string) => {
  const found = await newFailures();
  if (found.length > 0)
    throw new Error(
      `workflow tasks failed ${when} (Temporal retries them for ever: a workflow looks stuck):\n${found.join('\n')}`,
    );
};

beforeEach(() => check('before this test (in set-up)'));
afterEach(() => check('during this test'));
