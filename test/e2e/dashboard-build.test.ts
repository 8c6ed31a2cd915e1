/**
 * The dashboard's browser code: it type-checks with DOM types under its own tsconfig
 * (the root one excludes it, so Node code keeps Node's types), and bundles with dagre.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { dashboardBundle } from '../../src/api/dashboard/index.js';
import { PROJECT_ROOT } from '../../src/temporal/binary.js';

describe('dashboard build', () => {
  it('type-checks the browser code against the DOM', async () => {
    const tsc = path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const run = await promisify(execFile)(process.execPath, [tsc, '--noEmit', '-p', 'src/api/dashboard/client'], {
      cwd: PROJECT_ROOT,
    }).catch((err: Error & { stdout?: string }) => ({ stdout: err.stdout || err.message }));
    expect(run.stdout).toBe('');
  });

  it('bundles the app into one script with the graph layout inside', async () => {
    const { js, css } = await dashboardBundle();
    expect(js).toMatch(/network-simplex|networkSimplex|rankdir/);
    expect(js).not.toMatch(/from\s*["']@dagrejs/);
    expect(css).toContain('.result-aborted');
  });
});
