#!/usr/bin/env node
// The `testbay` command: runs the TypeScript sources, compiled on first use after a change
// (scripts/cli-bundle.mjs), or through tsx where that cannot be.
// A host does much file work at once (logs, uploads, provisioning): more threads for it.
// Read when libuv's pool starts, which is after this line.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { cliBundle } = await import('../scripts/cli-bundle.mjs');
const bundle = await cliBundle();
if (bundle) {
  // Stack traces name the source files and lines.
  process.setSourceMapsEnabled(true);
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
