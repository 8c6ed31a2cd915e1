/**
 * @module The wire contract in one place: every shape the API takes and returns, as zod
 * schemas by topic, with their TypeScript types by `z.infer`. The API validates with them
 * and documents them (OpenAPI); the store, the client, the CLI and the dashboard use their
 * types.
 */
export * from './common.js';
export * from './results.js';
export * from './reservations.js';
export * from './jobs.js';
export * from './batch-runs.js';
export * from './hosts.js';
export * from './submissions.js';
