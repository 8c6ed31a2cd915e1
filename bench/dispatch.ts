/**
 * bench/dispatch: how long one job waits on an idle lab. DISPATCH_JOBS (default 50)
 * trivial single-job submissions, one after another, on an embedded lab of one host:
 * submit (POST sent) → the runner's `start` stamp, and submit → the submission's workflow
 * result. Beside it, on the same Temporal dev server, the same count of bare Temporal
 * workflows, one after another: start sent → its one activity starts, and → its result.
 * The ratio says what Testbay's path (submission → recipe set → lease from the scheduler
 * → chain → job records → provision → run) costs over the engine's own.
 *
 * Also prints where a median job's time goes: the milestones of its workflows (their
 * median over the measured jobs, in ms after the POST was sent) and the workflow tasks on
 * the way to the runner, and the whole timeline of one job.
 */
import { Client, Connection } from '@temporalio/client';
import { ensureNamespace } from '../src/temporal/namespace.js';
import { TestLab } from '../test/helpers/lab.js';
import { bareWorkflowBundle, startBareWorker, stopBareWorker } from './bare-temporal.js';
import {
  benchEnvironment,
  percentile,
  PRODUCT_TIMINGS,
  round,
  STAMP_RUNNER,
  stampAfter,
  writeResult,
} from './harness.js';
import { printTimeline, timeline, type TimelineRow } from './history.js';

const JOBS = Number(process.env.DISPATCH_JOBS ?? 50);
const WARM = 3;
const GOAL_MS = 200;

const env = await benchEnvironment('dispatch');
const connection = await Connection.connect({ address: env.temporalAddress });

interface Run {
  sentAt: number;
  startedAt: number;
  doneAt: number;
  submissionId?: string;
}

const stats = (xs: number[]) => ({
  p50: round(percentile(xs, 50)),
  p90: round(percentile(xs, 90)),
  min: round(Math.min(...xs)),
  max: round(Math.max(...xs)),
});
const summary = (runs: Run[]) => ({
  toStartMs: stats(runs.map((r) => r.startedAt - r.sentAt)),
  toDoneMs: stats(runs.map((r) => r.doneAt - r.sentAt)),
});

async function bare(): Promise<Run[]> {
  const namespace = `bench-dispatch-${Math.random().toString(36).slice(2, 8)}`;
  await ensureNamespace(connection, namespace, { create: true, retentionHours: 24 });
  const client = new Client({ connection, namespace });
  const taskQueue = 'bench-dispatch';
  const worker = await startBareWorker({
    temporalAddress: env.temporalAddress,
    namespace,
    taskQueue,
    bundlePath: await bareWorkflowBundle(env.outputDir),
    activitySlots: 1,
  });
  try {
    const runs: Run[] = [];
    for (let i = 0; i < WARM + JOBS; i++) {
      const sentAt = Date.now();
      const handle = await client.workflow.start('bareWorkflow', { workflowId: `bare-${i}`, taskQueue, args: [] });
      const startedAt = (await handle.result()) as number;
      if (i >= WARM) runs.push({ sentAt, startedAt, doneAt: Date.now() });
    }
    return runs;
  } finally {
    await stopBareWorker(worker);
  }
}

async function testbay(): Promise<{
  runs: Run[];
  milestones: Record<string, number>;
  tasksBeforeRunner: number;
  sample: { rows: TimelineRow[]; sentAt: number; id: string };
}> {
  const lab = await TestLab.start({
    name: 'dispatch',
    hosts: [{ id: 'd1' }],
    env: PRODUCT_TIMINGS,
    separateProcesses: true,
    ...env,
  });
  try {
    const spec = (name: string) => ({
      name,
      jobs: [{ name: 'job', workerClass: 'local', runner: { command: STAMP_RUNNER } }],
    });
    const runs: Run[] = [];
    for (let i = 0; i < WARM + JOBS; i++) {
      const sentAt = Date.now();
      const { id, jobs } = await lab.submit(spec(`d-${i}`));
      await lab.temporal.workflow.getHandle(`sub-${id}`).result();
      const doneAt = Date.now();
      const startedAt = stampAfter(await lab.api.log(jobs[0]!.id), 'start');
      if (startedAt === undefined) throw new Error(`job ${jobs[0]!.id} has no start stamp`);
      if (i >= WARM) runs.push({ sentAt, startedAt, doneAt, submissionId: id });
    }
    // Where the time goes: each milestone's median over the measured jobs.
    const at = new Map<string, number[]>();
    let tasks: number[] = [];
    let sample: { rows: TimelineRow[]; sentAt: number; id: string } | undefined;
    const median = runs.map((r) => r.startedAt - r.sentAt).sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
    for (const r of runs) {
      const rows = await timeline(lab.temporal, r.submissionId!, r.startedAt);
      const seen = new Set<string>();
      for (const row of rows) {
        if (
          row.type === 'workflow_task_completed' ||
          row.type.endsWith('_task_started') ||
          row.type.endsWith('_task_completed')
        )
          continue;
        const key = `${row.who} ${row.type}${row.name ? ` ${row.name}` : ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        at.set(key, [...(at.get(key) ?? []), row.t - r.sentAt]);
      }
      tasks = [...tasks, rows.filter((row) => row.type === 'workflow_task_completed' && row.t <= r.startedAt).length];
      if (!sample && r.startedAt - r.sentAt === median) sample = { rows, sentAt: r.sentAt, id: r.submissionId! };
    }
    const milestones = Object.fromEntries(
      [...at]
        .filter(([, ts]) => ts.length >= runs.length / 2)
        .map(([k, ts]) => [k, round(percentile(ts, 50))] as const)
        .sort((a, b) => a[1] - b[1]),
    );
    return { runs, milestones, tasksBeforeRunner: percentile(tasks, 50), sample: sample! };
  } finally {
    await lab.stop();
  }
}

let failed = false;
try {
  const bareRuns = await bare();
  const lab = await testbay();
  const b = summary(bareRuns);
  const t = summary(lab.runs);
  const ratio = round(t.toStartMs.p50 / b.toStartMs.p50, 1);
  console.log(`dispatch: ${JOBS} trivial single-job submissions one after another, idle lab of one host`);
  console.log(
    `  Testbay  submit → runner start p50 ${t.toStartMs.p50} ms (p90 ${t.toStartMs.p90}, ${t.toStartMs.min}–${t.toStartMs.max}); submit → done p50 ${t.toDoneMs.p50} ms (p90 ${t.toDoneMs.p90})`,
  );
  console.log(
    `  bare     start → activity start p50 ${b.toStartMs.p50} ms (p90 ${b.toStartMs.p90}); start → result p50 ${b.toDoneMs.p50} ms`,
  );
  console.log(
    `  ratio Testbay/bare (to start) ${ratio}; goal p50 ≤ ${GOAL_MS} ms: ${t.toStartMs.p50 <= GOAL_MS ? 'met' : 'NOT met'}`,
  );
  console.log(
    `  ${lab.tasksBeforeRunner} workflow tasks before the runner starts (median); milestones, median ms after the POST was sent:`,
  );
  for (const [k, ms] of Object.entries(lab.milestones)) console.log(`    ${String(ms).padStart(7)}  ${k}`);
  printTimeline(lab.sample.rows, lab.sample.sentAt, `timeline of a median job (submission ${lab.sample.id})`);
  const figures = {
    jobs: JOBS,
    hosts: 1,
    testbay: t,
    bare: b,
    ratio,
    tasksBeforeRunner: lab.tasksBeforeRunner,
    milestones: lab.milestones,
    goal: `submit → runner start p50 ≤ ${GOAL_MS} ms`,
    goalMet: t.toStartMs.p50 <= GOAL_MS,
  };
  console.log(`  written to ${await writeResult('dispatch', figures)}`);
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await connection.close();
  await env.stop();
}
process.exit(failed ? 1 : 0);
