/**
 * The bare-Temporal baselines' parts: the baseline workflows bundled on their own
 * (bench/throughput-workflows.ts), and their worker as a process of its own
 * (bench/throughput-worker.ts), as the control worker and the hosts are processes apart
 * from a bench, which only submits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { PROJECT_ROOT } from '../src/temporal/binary.js';

export async function bareWorkflowBundle(outputDir: string): Promise<string> {
  const bundle = await bundleWorkflowCode({
    workflowsPath: path.join(PROJECT_ROOT, 'bench', 'throughput-workflows.ts'),
    logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} },
  });
  const file = path.join(outputDir, 'bare-workflow-bundle.js');
  await fsp.writeFile(file, bundle.code);
  return file;
}

export interface BareWorkerOptions {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  bundlePath: string;
  activitySlots: number;
}

/** Starts a baseline worker; resolves once it polls. */
export function startBareWorker(o: BareWorkerOptions): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [path.join(PROJECT_ROOT, 'bin', 'run-ts.js'), path.join(PROJECT_ROOT, 'bench', 'throughput-worker.ts')],
    {
      env: {
        ...process.env,
        BARE_TEMPORAL_ADDRESS: o.temporalAddress,
        BARE_NAMESPACE: o.namespace,
        BARE_TASK_QUEUE: o.taskQueue,
        BARE_WORKFLOW_BUNDLE: o.bundlePath,
        BARE_ACTIVITY_SLOTS: String(o.activitySlots),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bare worker exited with ${code}`)));
    child.stdout.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) resolve(child);
    });
  });
}

export function stopBareWorker(w: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (w.exitCode !== null) return resolve();
    w.removeAllListeners('exit');
    w.once('exit', () => resolve());
    w.kill('SIGTERM');
  });
}
