#!/usr/bin/env node
// The `testbay` command: runs the TypeScript sources through tsx (no build step).
// A host does much file work at once (logs, uploads, provisioning): more threads for it.
// Read when libuv's pool starts, which is after this line.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { register } = await import('tsx/esm/api');

register();
await import('../src/cli/main.ts');
