// `npm run test:production`: the production topology end to end (test/production), one
// file at a time, with its own servers (no shared dev server: it starts a real Temporal
// server on PostgreSQL). `npm test` leaves test/production out (vitest.config.ts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/production/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 600_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
    reporters: ['verbose'],
  },
});
