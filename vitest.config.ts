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
    // Each fork runs its files one after another in one module registry: every file no
    // longer pays for importing the SDK, express and the sources again (77 s of a run).
    // Labs stop what they start, and process-wide state (the SDK's logger) is per lab.
    isolate: false,
    testTimeout: 90_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
