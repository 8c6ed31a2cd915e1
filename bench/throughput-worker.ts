/**
 * The worker of bench/throughput's bare-Temporal baselines, as its own process (as the
 * control worker and the hosts are): it polls one shared task queue for the baseline
 * workflows and their activities. Started by bench/throughput.ts with its settings in the
 * environment; prints `ready` once polling, stops on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

export interface BareActivities {
  /** returns when it started (epoch ms) */
  touch(): Promise<number>;
  /** runs the runner; returns its `start` stamp (epoch ms) */
  runRunner(argv: string[]): Promise<number>;
}

const activities: BareActivities = {
  touch: () => Promise.resolve(Date.now()),
  runRunner: (argv) =>
    new Promise((resolve, reject) => {
      // As a host starts a runner: its own process group, a small environment, output read.
      const child = spawn(argv[0]!, argv.slice(1), {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', TESTBAY_ATTEMPT: '1' },
      });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.once('error', reject);
      child.once('close', (code) => {
        const m = /start (\d+)/.exec(out);
        if (code === 0 && m) resolve(Number(m[1]) / 1e6);
        else reject(new Error(`runner exited with ${code}: ${out}`));
      });
    }),
};

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address: env('BARE_TEMPORAL_ADDRESS') });
const worker = await Worker.create({
  connection,
  namespace: env('BARE_NAMESPACE'),
  taskQueue: env('BARE_TASK_QUEUE'),
  workflowBundle: { codePath: env('BARE_WORKFLOW_BUNDLE') },
  activities,
  maxConcurrentActivityTaskExecutions: Number(env('BARE_ACTIVITY_SLOTS')),
});
process.once('SIGTERM', () => worker.shutdown());
const running = worker.run();
process.stdout.write('ready\n');
await running;
await connection.close();
process.exit(0);
