/**
 * bench/throughput: how many single-job submissions a lab finishes per second, and how
 * long each waits to start. THROUGHPUT_JOBS (default 1,000) submissions with a trivial
 * runner over THROUGHPUT_HOSTS (default 20) local hosts, end to end: jobs/s (first
 * submission sent → last submission workflow closed) and queue→start latency p50/p99
 * (submission accepted by the API → the runner's `start` stamp).
 *
 * Beside it, on the same Temporal dev server (a namespace per run), the same count of
 * bare Temporal workflows, each running one activity on a shared task queue, and the
 * ratio Testbay/bare:
 * - `bare`: the activity returns at once: Temporal's own cost of one workflow and one
 *   activity on this machine.
 * - `spawn`: the activity runs the same trivial runner process (sh, date) a host runs, in
 *   its own process group, and reads its output: what any system that runs a test process
 *   per job pays on top of the engine. The gap between `spawn` and Testbay is what
 *   Testbay's scheduling (lease, recipe set, chain), job records and uploads cost.
 *
 * The baselines get the same conditions: the same submission concurrency
 * (THROUGHPUT_CONCURRENCY, default 32, workflow starts in flight as there are POSTs in
 * flight), the same definitions of start, end and latency (start accepted → activity or
 * runner start; the last workflow's close time from Temporal's visibility), and HOSTS
 * untimed warm-up runs first. Their worker is one process of its own with the SDK's
 * defaults and HOSTS activity slots (the lab's hosts each run one job at once), as
 * Testbay's control worker and hosts are processes apart from the bench, which only
 * submits. Workflows run in the order bare, spawn, Testbay: the baselines get the emptier
 * database. Queue→start latency is mostly the wait for a free host, for all three alike.
 *
 * THROUGHPUT_PROFILE=1 (diagnosis, not for figures): every lab process gets a preload
 * (bench/throughput-probe.ts) that CPU-profiles its main thread over the measured run and
 * counts the API's requests per route (profiling slows the lab down several times). Prints
 * the top self-time functions per kind of process (the control worker's workflow thread
 * apart), the requests per job and one submission's timeline; the profiles stay under
 * test-output/bench-throughput/profiles.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { PROJECT_ROOT } from '../src/temporal/binary.js';
import { ensureNamespace } from '../src/temporal/namespace.js';
import { TestLab } from '../test/helpers/lab.js';
import { bareWorkflowBundle, startBareWorker, stopBareWorker } from './bare-temporal.js';
import { eventTime, eventTypeName, GrantTurnaround, listAll, printTimeline, timeline } from './history.js';
import { PROBE_SOURCE } from './throughput-probe.js';
import {
  benchEnvironment,
  percentile,
  PRODUCT_TIMINGS,
  round,
  STAMP_RUNNER,
  stampAfter,
  writeResult,
} from './harness.js';

const JOBS = Number(process.env.THROUGHPUT_JOBS ?? 1_000);
const HOSTS = Number(process.env.THROUGHPUT_HOSTS ?? 20);
/** submissions (or workflow starts) in flight at once */
const CONCURRENCY = Number(process.env.THROUGHPUT_CONCURRENCY ?? 32);
const PROFILE = process.env.THROUGHPUT_PROFILE === '1';
const BARE_WORKERS = Number(process.env.THROUGHPUT_BARE_WORKERS ?? 1);
/** while developing: run only some of bare, spawn, testbay */
const PHASES = new Set((process.env.THROUGHPUT_PHASES ?? 'bare,spawn,testbay').split(','));
const GOAL = 0.5;

const env = await benchEnvironment('throughput');
const profileDir = path.join(env.outputDir, 'profiles');
const connection = await Connection.connect({ address: env.temporalAddress });
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Submitted {
  id: string;
  /** what the workflow's or runner's start is measured against */
  jobId: string;
  sentAt: number;
  acceptedAt: number;
}

interface Phase {
  label: string;
  jobs: number;
  wallMs: number;
  jobsPerSec: number;
  /** submission (workflow start) accepted → runner (activity) start */
  queueToStartMs: { p50: number; p99: number; min: number; max: number };
  /** POST (or start) round trip */
  acceptMs: { p50: number; p99: number };
  /** submissions accepted per second while submitting */
  acceptedPerSec: number;
  /** CPU time per job by process (runners count with the host or worker that started them) */
  cpuMsPerJob: Record<string, number>;
  /** how busy the machine's cores were over the measured run */
  cpuShareOfMachine: number;
  /** Temporal history events per job, all workflows included */
  eventsPerJob: number;
  failures: number;
}

// ---------------------------------------------------------------------------------------
// Shared pieces

/** Runs fn(i) for i < n with at most `limit` in flight. */
async function pool<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

/** The processes this one started (their pid and argv), from /proc. */
function children(): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      out.push({
        pid: Number(entry),
        argv: fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean),
      });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU ms a process used, with its waited-for children (a host's runners). */
function cpuMsOf(pid: number): number {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after the comm: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
    return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

type Components = Record<string, number[]>;
const snapshot = (components: Components): Record<string, number> =>
  Object.fromEntries(
    Object.entries(components).map(([name, pids]) => [name, pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0)]),
  );

function cpuPerJob(before: Record<string, number>, after: Record<string, number>, jobs: number, wallMs: number) {
  const perJob = Object.fromEntries(Object.keys(after).map((k) => [k, round((after[k]! - before[k]!) / jobs, 2)]));
  const total = Object.keys(after).reduce((sum, k) => sum + after[k]! - before[k]!, 0);
  perJob.total = round(total / jobs, 2);
  return {
    perJob,
    share: round(
      total / wallMs / (fs.readdirSync('/sys/devices/system/cpu').filter((d) => /^cpu\d+$/.test(d)).length || 2),
      2,
    ),
  };
}

const temporalPid = () => children().find((c) => c.argv.some((a) => a === 'start-dev'))?.pid;

/** Waits until `expected` workflows of the type are closed, saying how far it got now and then. */
async function waitClosed(client: Client, type: string, expected: number, label: string): Promise<void> {
  const deadline = Date.now() + (120_000 + JOBS * 1_000) * (PROFILE ? 4 : 1);
  let said = Date.now();
  for (;;) {
    const { count } = await client.workflow.count(`WorkflowType = "${type}" AND ExecutionStatus != "Running"`);
    if (count >= expected) return;
    if (Date.now() > deadline)
      throw new Error(`${label}: only ${count} of ${expected} ${type} workflows closed in time`);
    if (Date.now() - said > 15_000) {
      said = Date.now();
      console.log(`  … ${label}: ${count} of ${expected} closed`);
    }
    await sleep(250);
  }
}

function phaseOf(
  label: string,
  submitted: Submitted[],
  startedAt: Map<string, number>,
  lastClose: number,
  cpu: { perJob: Record<string, number>; share: number },
  events: number,
  failures: number,
): Phase {
  const t0 = Math.min(...submitted.map((s) => s.sentAt));
  const wallMs = lastClose - t0;
  const latencies = submitted.map((s) => startedAt.get(s.jobId)! - s.acceptedAt).filter(Number.isFinite);
  const accepts = submitted.map((s) => s.acceptedAt - s.sentAt);
  const lastAccepted = Math.max(...submitted.map((s) => s.acceptedAt));
  return {
    label,
    jobs: submitted.length,
    wallMs: Math.round(wallMs),
    jobsPerSec: round((submitted.length / wallMs) * 1000, 2),
    queueToStartMs: {
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      min: round(Math.min(...latencies)),
      max: round(Math.max(...latencies)),
    },
    acceptMs: { p50: round(percentile(accepts, 50)), p99: round(percentile(accepts, 99)) },
    acceptedPerSec: round((submitted.length / (lastAccepted - t0)) * 1000, 1),
    cpuMsPerJob: cpu.perJob,
    cpuShareOfMachine: cpu.share,
    eventsPerJob: round(events / submitted.length, 1),
    failures: failures + (submitted.length - latencies.length),
  };
}

function print(p: Phase) {
  console.log(
    `  ${p.label.padEnd(8)} ${String(p.jobsPerSec).padStart(7)} jobs/s (${p.jobs} in ${p.wallMs} ms); queue→start p50 ${p.queueToStartMs.p50} ms, p99 ${p.queueToStartMs.p99} ms; accept p50 ${p.acceptMs.p50} ms, p99 ${p.acceptMs.p99} ms (${p.acceptedPerSec}/s)`,
  );
  console.log(
    `  ${''.padEnd(8)} CPU ms per job: ${Object.entries(p.cpuMsPerJob)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )} (machine ${Math.round(p.cpuShareOfMachine * 100)} % busy); ${p.eventsPerJob} history events per job${p.failures ? `; ${p.failures} FAILED` : ''}`,
  );
}

// ---------------------------------------------------------------------------------------
// Bare Temporal: one workflow, one activity, one shared task queue

async function bare(kind: 'bare' | 'spawn', bundlePath: string): Promise<Phase> {
  const namespace = `bench-${kind}-${Math.random().toString(36).slice(2, 8)}`;
  await ensureNamespace(connection, namespace, { create: true, retentionHours: 24 });
  const client = new Client({ connection, namespace });
  const taskQueue = `bench-${kind}`;
  const workers = await Promise.all(
    Array.from({ length: BARE_WORKERS }, () =>
      startBareWorker({
        temporalAddress: env.temporalAddress,
        namespace,
        taskQueue,
        bundlePath,
        activitySlots: Math.ceil(HOSTS / BARE_WORKERS),
      }),
    ),
  );
  const type = kind === 'bare' ? 'bareWorkflow' : 'spawnWorkflow';
  const start = (id: string) =>
    client.workflow.start(type, { workflowId: id, taskQueue, args: kind === 'bare' ? [] : [STAMP_RUNNER] });
  try {
    await Promise.all(
      Array.from({ length: HOSTS }, async (_, i): Promise<unknown> => (await start(`warm-${i}`)).result()),
    );
    const components: Components = {
      temporal: [temporalPid()!],
      worker: workers.map((w) => w.pid!),
      bench: [process.pid],
    };
    const before = snapshot(components);
    const submitted = await pool(JOBS, CONCURRENCY, async (i): Promise<Submitted> => {
      const sentAt = Date.now();
      const id = `${kind}-${i}`;
      await start(id);
      return { id, jobId: id, sentAt, acceptedAt: Date.now() };
    });
    await waitClosed(client, type, HOSTS + JOBS, kind);
    const after = snapshot(components);
    const closed = (await listAll(client, `WorkflowType = "${type}"`)).filter((w) => !w.workflowId.startsWith('warm-'));
    const lastClose = Math.max(...closed.map((w) => w.closeTime));
    const startedAt = new Map<string, number>();
    await pool(submitted.length, 32, async (i) => {
      const id = submitted[i]!.id;
      startedAt.set(id, await client.workflow.getHandle<() => Promise<number>>(id).result());
    });
    const cpu = cpuPerJob(before, after, JOBS, lastClose - Math.min(...submitted.map((s) => s.sentAt)));
    const events = closed.reduce((sum, w) => sum + w.historyLength, 0);
    return phaseOf(
      kind,
      submitted,
      startedAt,
      lastClose,
      cpu,
      events,
      closed.filter((w) => w.status !== 'COMPLETED').length,
    );
  } finally {
    await Promise.all(workers.map(stopBareWorker));
  }
}

// ---------------------------------------------------------------------------------------
// Testbay: the real lab, as deployed (API, control worker, hosts as processes)

async function testbay(): Promise<
  Phase & { historySample: Record<string, number>; hostTime: HostTime; requestsPerJob?: Record<string, number> }
> {
  const labEnv: Record<string, string> = { ...PRODUCT_TIMINGS };
  if (PROFILE) {
    await fsp.rm(profileDir, { recursive: true, force: true });
    await fsp.mkdir(profileDir, { recursive: true });
    const probe = path.join(env.outputDir, 'throughput-probe.mjs');
    await fsp.writeFile(probe, PROBE_SOURCE);
    labEnv.NODE_OPTIONS = `--import=${probe}`;
    labEnv.BENCH_PROBE_DIR = profileDir;
  }
  const lab = await TestLab.start({ name: 'throughput', hosts: [], env: labEnv, separateProcesses: true, ...env });
  try {
    // A few hosts at a time: twenty node processes booting at once on two cores is slow.
    const hostIds = Array.from({ length: HOSTS }, (_, i) => `w${i + 1}`);
    await pool(hostIds.length, 4, (i) => lab.startHost({ id: hostIds[i]! }));
    const spec = (name: string) => ({
      name,
      jobs: [{ name: 'job', workerClass: 'local', runner: { command: STAMP_RUNNER } }],
    });
    await Promise.all(Array.from({ length: HOSTS }, (_, i) => lab.submit(spec(`warm-${i}`))));
    await waitClosed(lab.temporal, 'submissionWorkflow', HOSTS, 'testbay warm-up');

    const kids = children();
    const partPid = (name: string) =>
      kids.find((c) => c.argv.includes(name) && c.argv.some((a) => a.endsWith('testbay.js')))!.pid;
    const components: Components = {
      temporal: [temporalPid()!],
      api: [partPid('server')],
      control: [partPid('control')],
      hosts: [...lab.hosts.values()].map((h) => h.pid!),
      bench: [process.pid],
    };
    const requestsBefore = PROFILE ? await readRequestCounts() : {};
    const schedulerBefore = await schedulerEvents(lab.temporal);
    if (PROFILE) await fsp.writeFile(path.join(profileDir, 'start'), '');
    const before = snapshot(components);
    const submitted = await pool(JOBS, CONCURRENCY, async (i): Promise<Submitted> => {
      const sentAt = Date.now();
      const { id, jobs } = await lab.submit(spec(`t-${i}`));
      return { id, jobId: jobs[0]!.id, sentAt, acceptedAt: Date.now() };
    });
    await waitClosed(lab.temporal, 'submissionWorkflow', HOSTS + JOBS, 'testbay');
    const after = snapshot(components);
    if (PROFILE) await stopProfiles(HOSTS + 3);
    const requestsAfter = PROFILE ? await readRequestCounts() : {};
    const schedulerAfter = await schedulerEvents(lab.temporal);

    const measured = new Set(submitted.map((s) => s.id));
    const all = await listAll(lab.temporal, 'WorkflowType != "schedulerWorkflow"');
    const ofMeasured = all.filter((w) => measured.has(/^(?:sub|rs|chain)-([a-z0-9]+)/.exec(w.workflowId)?.[1] ?? ''));
    const subs = ofMeasured.filter((w) => w.workflowId.startsWith('sub-'));
    const lastClose = Math.max(...subs.map((w) => w.closeTime));
    const bad = subs.filter((w) => w.status !== 'COMPLETED' || w.result !== 'passed');
    const failures = bad.length;
    for (const w of bad.slice(0, 3)) {
      const view = await lab.api.submission(w.workflowId.slice('sub-'.length)).catch(() => undefined);
      console.error(
        `  ${w.workflowId} ${w.status} ${w.result ?? ''}: ${JSON.stringify(view?.jobs.map((j) => j.result))}`,
      );
    }
    const events = ofMeasured.reduce((sum, w) => sum + w.historyLength, 0) + (schedulerAfter - schedulerBefore);

    const startedAt = new Map<string, number>();
    await pool(submitted.length, 16, async (i) => {
      const s = submitted[i]!;
      const stamp = stampAfter(await lab.api.log(s.jobId), 'start');
      if (stamp !== undefined) startedAt.set(s.jobId, stamp);
    });
    const cpu = cpuPerJob(before, after, JOBS, lastClose - Math.min(...submitted.map((s) => s.sentAt)));
    const phase = phaseOf('testbay', submitted, startedAt, lastClose, cpu, events, failures);
    const historySample = await sampleHistory(
      lab.temporal,
      submitted[Math.floor(submitted.length / 2)]!.id,
      schedulerAfter - schedulerBefore,
    );
    const hostTime = await sampleHostTime(
      lab.temporal,
      submitted,
      startedAt,
      phase.jobsPerSec,
      Math.min(...submitted.map((x) => x.sentAt)),
    );
    const requestsPerJob = PROFILE ? perJob(requestsBefore, requestsAfter) : undefined;
    if (PROFILE) {
      const sample = submitted[Math.floor(submitted.length / 2)]!;
      printTimeline(
        await timeline(lab.temporal, sample.id, startedAt.get(sample.jobId)),
        sample.acceptedAt,
        `timeline of submission ${sample.id}`,
      );
    }
    return { ...phase, historySample, hostTime, ...(requestsPerJob ? { requestsPerJob } : {}) };
  } finally {
    await lab.stop();
  }
}

/**
 * Where a host's time goes, per job (p50): from the scheduler's histories, a release
 * reaching the scheduler → its grant of that host to the next request; from 25
 * submissions spread over the run (their recipe set's and chain's histories), the grant
 * reaching the recipe set → the runner's start → the chain releasing the lease.
 */
interface HostTime {
  releaseToNextGrantMs: number;
  grantToRunnerMs: number;
  runnerToReleaseMs: number;
  /** HOSTS / jobs per second: a host's whole cycle, including the runs' start-up */
  cycleMs: number;
}

async function sampleHostTime(
  client: Client,
  submitted: Submitted[],
  startedAt: Map<string, number>,
  jobsPerSec: number,
  since: number,
): Promise<HostTime> {
  // The scheduler: per host, each release it received → the next grant of that host it sent.
  const grants = new GrantTurnaround();
  for (const run of (await listAll(client, 'WorkflowType = "schedulerWorkflow"')).sort(
    (a, b) => a.closeTime - b.closeTime,
  )) {
    for (const e of (await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory()).events ?? []) {
      const t = eventTime(e);
      if (t >= since) grants.observe(e, t);
    }
  }
  const { turnaround } = grants;
  const n = Math.min(25, submitted.length);
  const grantToRunner: number[] = [];
  const runnerToRelease: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = submitted[Math.floor(((i + 0.5) * submitted.length) / n)]!;
    let granted: number | undefined;
    let released: number | undefined;
    for (const w of await listAll(client, `TestbaySubmission = "${s.id}"`)) {
      for (const e of (await client.workflow.getHandle(w.workflowId).fetchHistory()).events ?? []) {
        if (e.workflowExecutionSignaledEventAttributes?.signalName === 'leaseGranted') granted ??= eventTime(e);
        if (e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'releaseLease')
          released ??= eventTime(e);
      }
    }
    const runner = startedAt.get(s.jobId);
    if (granted === undefined || released === undefined || runner === undefined) continue;
    grantToRunner.push(runner - granted);
    runnerToRelease.push(released - runner);
  }
  return {
    releaseToNextGrantMs: round(percentile(turnaround, 50)),
    grantToRunnerMs: round(percentile(grantToRunner, 50)),
    runnerToReleaseMs: round(percentile(runnerToRelease, 50)),
    cycleMs: round((HOSTS / jobsPerSec) * 1000),
  };
}

/** Events in every run of the scheduler so far (continue-as-new makes new runs). */
async function schedulerEvents(client: Client): Promise<number> {
  const closed = await listAll(client, 'WorkflowType = "schedulerWorkflow" AND ExecutionStatus != "Running"');
  const current = await client.workflow.getHandle('testbay-scheduler').describe();
  return closed.reduce((sum, w) => sum + w.historyLength, 0) + current.historyLength;
}

/** What one submission costs in Temporal: its workflows' events by kind, and its share of the scheduler's. */
async function sampleHistory(
  client: Client,
  submissionId: string,
  schedulerEventsDelta: number,
): Promise<Record<string, number>> {
  const ids = (await listAll(client, `TestbaySubmission = "${submissionId}"`)).map((w) => w.workflowId);
  const counts: Record<string, number> = { workflows: ids.length };
  const interesting: Record<string, string> = {
    EVENT_TYPE_WORKFLOW_TASK_COMPLETED: 'workflowTasks',
    EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: 'activities',
    EVENT_TYPE_MARKER_RECORDED: 'localActivities',
    EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: 'childWorkflows',
    EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: 'signalsSent',
    EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: 'signalsReceived',
  };
  let events = 0;
  for (const id of ids) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    for (const e of history.events ?? []) {
      events++;
      const name = interesting[String(eventTypeName(e.eventType))];
      if (name) counts[name] = (counts[name] ?? 0) + 1;
    }
  }
  counts.events = events;
  counts.schedulerEventsPerJob = round(schedulerEventsDelta / JOBS, 1);
  return counts;
}

/** The API's requests by route, summed over the lab's processes (profile mode). */
async function readRequestCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const file of await fsp.readdir(profileDir).catch(() => [] as string[])) {
    if (!file.startsWith('requests-') || !file.endsWith('.json')) continue;
    let counts: Record<string, number> = {};
    try {
      counts = JSON.parse(await fsp.readFile(path.join(profileDir, file), 'utf8')) as Record<string, number>;
    } catch {
      // gone or half-written: the probes write whole files, but a process may have died
    }
    for (const [k, v] of Object.entries(counts)) out[k] = (out[k] ?? 0) + v;
  }
  return out;
}

function perJob(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = round(d / JOBS, 2);
  }
  out.total = round(
    Object.entries(out).reduce((sum, [k, v]) => (k.startsWith('ms ') ? sum : sum + v), 0),
    2,
  );
  return out;
}

// ---------------------------------------------------------------------------------------

let failed = false;
try {
  const bundlePath = await bareWorkflowBundle(env.outputDir);
  const bareRun = PHASES.has('bare') ? await bare('bare', bundlePath) : undefined;
  const spawnRun = PHASES.has('spawn') ? await bare('spawn', bundlePath) : undefined;
  const lab = PHASES.has('testbay') ? await testbay() : undefined;
  console.log(
    `throughput: ${JOBS} single-job submissions, trivial runner, ${HOSTS} hosts; ${CONCURRENCY} submissions in flight`,
  );
  for (const p of [lab, spawnRun, bareRun]) if (p) print(p);
  if (lab) {
    console.log(
      `  one Testbay job in Temporal: ${Object.entries(lab.historySample)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    const h = lab.hostTime;
    console.log(
      `  a host's time per job (p50): release reaches the scheduler → next grant ${h.releaseToNextGrantMs} ms; grant reaches the recipe set → runner starts ${h.grantToRunnerMs} ms; runner starts → lease released ${h.runnerToReleaseMs} ms (whole cycle, HOSTS / jobs/s: ${h.cycleMs} ms)`,
    );
  }
  if (lab?.requestsPerJob)
    console.log(
      `  API requests per job: ${Object.entries(lab.requestsPerJob)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  if (lab && bareRun && spawnRun) {
    const vsBare = round(lab.jobsPerSec / bareRun.jobsPerSec, 3);
    const vsSpawn = round(lab.jobsPerSec / spawnRun.jobsPerSec, 3);
    console.log(
      `  ratio Testbay/bare ${vsBare} (goal ≥ ${GOAL}: ${vsBare >= GOAL ? 'met' : 'NOT met'}); Testbay/spawn ${vsSpawn}`,
    );
    const figures = {
      jobs: JOBS,
      hosts: HOSTS,
      concurrency: CONCURRENCY,
      bareWorkers: BARE_WORKERS,
      testbay: lab,
      bare: bareRun,
      spawn: spawnRun,
      ratio: { vsBare, vsSpawn },
      goal: `Testbay/bare ≥ ${GOAL}`,
      goalMet: vsBare >= GOAL,
    };
    console.log(`  written to ${await writeResult('throughput', figures)}`);
  } else {
    console.log(`  THROUGHPUT_PHASES=${[...PHASES].join(',')}: no ratio, nothing written`);
  }
  if ((lab?.failures ?? 0) + (bareRun?.failures ?? 0) + (spawnRun?.failures ?? 0) > 0) {
    failed = true;
    console.error('  FAILED: some jobs did not pass or have no start stamp');
  }
  if (PROFILE && lab) await printProfiles();
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await connection.close();
  await env.stop();
}
process.exit(failed ? 1 : 0);

/** Top self-time functions per kind of lab process, from the --cpu-prof profiles. */
async function printProfiles(): Promise<void> {
  const files = (await fsp.readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'));
  console.log(`  profiles: ${files.length} in ${profileDir}`);
  const byKind = new Map<string, Map<string, number>>();
  for (const file of files) {
    const profile = JSON.parse(await fsp.readFile(path.join(profileDir, file), 'utf8')) as CpuProfile;
    const kind = file.includes('-thread') ? `${file.split('-')[0]!} worker thread` : file.split('-')[0]!;
    const self = byKind.get(kind) ?? new Map<string, number>();
    byKind.set(kind, self);
    const dt = new Map<number, number>();
    profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
    for (const n of profile.nodes) {
      const us = dt.get(n.id) ?? 0;
      if (us === 0) continue;
      const where = n.callFrame.url
        ? `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/node_modules\//, '~/').replace(`file://${PROJECT_ROOT}/`, '')}:${n.callFrame.lineNumber + 1}`
        : n.callFrame.functionName;
      self.set(where, (self.get(where) ?? 0) + us);
    }
  }
  for (const [kind, self] of byKind) {
    const total = [...self.values()].reduce((a, b) => a + b, 0);
    console.log(`  ${kind}: ${round(total / 1000)} ms sampled; top self time:`);
    for (const [where, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 12))
      console.log(`    ${String(round((us / total) * 100)).padStart(5)} %  ${where}`);
  }
}

/** Asks the probes to stop profiling; waits (a little) for `expected` profiles. */
async function stopProfiles(expected: number): Promise<void> {
  await fsp.writeFile(path.join(profileDir, 'stop'), '');
  for (let i = 0; i < 100; i++) {
    const files = (await fsp.readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length >= expected) return;
    await sleep(200);
  }
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}
