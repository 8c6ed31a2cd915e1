// One Temporal dev server and one workflow bundle per test run (test/global-setup.ts);
// test files that start workers run in forked processes, two at a time on this 2-core box.
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The production topology has its own run: npm run test:production (vitest.production.config.ts).
    exclude: [...configDefaults.exclude, 'test/production/**'],
    globalSetup: ['test/global-setup.ts'],
    // Fails any test during which a workflow task failed (a stuck workflow).
    setupFiles: ['test/setup/workflow-task-guard.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 90_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
