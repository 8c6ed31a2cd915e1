/**
 * bench/scale: how many hosts one scheduler workflow (one pool) holds. SCALE_HOSTS
 * (default 200; a list runs each in turn: `200,1000,2000`) simulated hosts register with
 * the product's scheduler, and SCALE_REQUESTS (default 10,000) lease requests with mixed
 * worker classes and priorities are queued at once; each grant is held SCALE_HOLD_MS
 * (default 1,000) and released.
 *
 * What is real and what is simulated:
 * - real: the Temporal dev server, the scheduler workflow (the product's bundle), the
 *   lease client, and for every host a Temporal worker on its own task queue `host/<id>`
 *   running the product's presence activity (holdPresence, heartbeating), registered with
 *   the same signal-with-start a `testbay host` sends. Hosts run in SCALE_HOST_PROCESSES
 *   processes (default: one per 250 hosts).
 * - simulated: the jobs. A grant goes to one of SCALE_REQUESTERS (default 40) requester
 *   workflows standing in for recipe sets (bench/scale-workflows.ts), which holds it and
 *   releases it; no runner process, no chain workflow, no API or result store (those scale
 *   with the jobs, not with the hosts, and bench/throughput measures them).
 *
 * Prints, per N: grant latency p50/p99 (request sent → grant received, in workflow time;
 * with 10,000 queued this is mostly the queue's wait), the scheduler's turnaround (a
 * host's release → its next grant), its workflow-task time (WorkflowTaskStarted →
 * Completed in its histories), events per hour, continue-as-new runs per hour, and
 * memory (peak RSS of the control worker, the host processes and the Temporal server).
 * Results go to bench/results/scale.json (one entry per N, the latest run of each).
 *
 *   node bin/run-ts.js bench/scale.ts
 *   SCALE_HOSTS=1000,2000 nice node bin/run-ts.js bench/scale.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createHoldPresence } from '../src/activities/host/presence.js';
import { PresenceWatch } from '../src/activities/host/presence-watch.js';
import type { HostDeps } from '../src/activities/host/deps.js';
import { HOST_ACTIVITY_POLLERS } from '../src/workers/host.js';
import { CONTROL_TASK_QUEUE, hostTaskQueue, SCHEDULER_WORKFLOW_ID } from '../src/domain/ids.js';
import type { HostRegistration } from '../src/domain/lab.js';
import { PROJECT_ROOT } from '../src/temporal/binary.js';
import {
  configureSignal,
  DEFAULT_SCHEDULER_CONFIG,
  labQuery,
  registerHostSignal,
} from '../src/workflows/scheduler-messages.js';
import type { ScaleRequest, ScaleRequesterInput, ScaleRequesterResult } from './scale-workflows.js';
import { benchEnvironment, percentile, round, writeResult } from './harness.js';
import { eventTime, GrantTurnaround } from './history.js';

const ROLE = process.argv[2] ?? 'main';
const NAMESPACE = 'default';
const CLASSES = [
  { name: 'qemu_x86_64', share: 0.5 },
  { name: 'qemu_aarch64', share: 0.25 },
  { name: 'ipmi-bm', share: 0.15 },
  { name: 'board-rpi', share: 0.1 },
];
const PRIORITIES = [10, 50, 50, 90];
const POLLER_LIMIT = Number(process.env.SCALE_POLLER_LIMIT ?? 20_000);

/** The class of host or request i: the same shares for both. */
function classOf(i: number, n: number): string {
  let edge = 0;
  for (const c of CLASSES) {
    edge += c.share * n;
    if (i < edge) return c.name;
  }
  return CLASSES[CLASSES.length - 1]!.name;
}

/** A small deterministic shuffle (mulberry32), so runs are comparable. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const quietLog = { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} };

/** The control worker of the bench: the scheduler and the requesters, as `testbay control` runs workflows. */
async function runControl(address: string, bundlePath: string): Promise<void> {
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace: NAMESPACE,
    taskQueue: CONTROL_TASK_QUEUE,
    workflowBundle: { codePath: bundlePath },
    maxConcurrentWorkflowTaskExecutions: 40,
    maxCachedWorkflows: 1_000,
  });
  process.on('SIGTERM', () => worker.shutdown());
  process.on('disconnect', () => worker.shutdown());
  process.send?.('ready');
  await worker.run();
  await connection.close();
}

/** `count` hosts from `first`: a worker each on its own task queue, holding presence; registered as a host registers. */
async function runHosts(address: string, first: number, count: number, total: number): Promise<void> {
  const connection = await NativeConnection.connect({ address });
  const client = new Client({ connection: await Connection.connect({ address }), namespace: NAMESPACE });
  const shutdown = new AbortController();
  const workers: Worker[] = [];
  const registrations = new Map<string, HostRegistration>();
  const watches = new Map<string, PresenceWatch>();
  const register = async (reg: HostRegistration) => {
    for (let delayMs = 500; ; delayMs = Math.min(delayMs * 2, 10_000)) {
      try {
        await client.workflow.signalWithStart('schedulerWorkflow', {
          workflowId: SCHEDULER_WORKFLOW_ID,
          taskQueue: CONTROL_TASK_QUEUE,
          args: [{}],
          signal: registerHostSignal,
          signalArgs: [reg],
        });
        watches.get(reg.hostId)?.registered(reg.instanceId);
        return;
      } catch (err) {
        if (shutdown.signal.aborted) return;
        console.error(`could not register ${reg.hostId}: ${String(err)}`);
        await sleep(delayMs);
      }
    }
  };
  for (let i = first; i < first + count; i++) {
    const hostId = `sim${String(i).padStart(4, '0')}`;
    const reg: HostRegistration = {
      hostId,
      instanceId: randomUUID(),
      workerClasses: [classOf(i, total)],
      capabilities: { arch: 'x86_64' },
      hostname: hostId,
      address: '127.0.0.1',
    };
    registrations.set(hostId, reg);
    // As `testbay host` does: register again when the scheduler stopped watching, or when
    // the presence it started never reached this host.
    const again = (instanceId: string) => {
      if (reg.instanceId !== instanceId || shutdown.signal.aborted) return;
      reg.instanceId = randomUUID();
      void register(reg);
    };
    const watch = new PresenceWatch(2 * DEFAULT_SCHEDULER_CONFIG.presencePickupMs, again);
    watches.set(hostId, watch);
    const deps = {
      shutdown: shutdown.signal,
      log: { info() {}, warn() {}, error() {}, debug() {} },
      onPresenceLost: again,
      onPresenceStarted: (instanceId: string) => watch.presenceStarted(instanceId),
    } as unknown as HostDeps;
    workers.push(
      await Worker.create({
        connection,
        namespace: NAMESPACE,
        taskQueue: hostTaskQueue(hostId),
        activities: { holdPresence: createHoldPresence(deps) },
        // A host's presence heartbeats at the product's throttle (TESTBAY_HEARTBEAT_THROTTLE_MS).
        maxHeartbeatThrottleInterval: 1_000,
        defaultHeartbeatThrottleInterval: 1_000,
        maxConcurrentActivityTaskExecutions: 16,
        maxConcurrentActivityTaskPolls: HOST_ACTIVITY_POLLERS,
      }),
    );
  }
  const running = workers.map((w) => w.run());
  for (const reg of registrations.values()) await register(reg);
  process.send?.('ready');
  const stop = () => {
    shutdown.abort();
    for (const w of workers) w.shutdown();
  };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  await Promise.allSettled(running);
  await connection.close();
}

interface Part {
  name: string;
  child: ChildProcess;
  peakRssMiB: number;
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The pids of the process and its descendants (run-ts.js starts the script in a child). */
function treeOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const visit = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return out;
}

const treeRss = (pid: number | undefined) =>
  pid === undefined ? 0 : treeOf(pid).reduce((sum, p) => sum + rssMiB(p), 0);

function startPart(name: string, args: string[]): Promise<Part> {
  const child = spawn(
    process.execPath,
    [path.join(PROJECT_ROOT, 'bin', 'run-ts.js'), path.join(PROJECT_ROOT, 'bench', 'scale.ts'), ...args],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve({ name, child, peakRssMiB: 0 }));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready`)));
  });
}

async function stopPart(p: Part): Promise<void> {
  if (p.child.exitCode !== null) return;
  const gone = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  await Promise.race([gone, sleep(20_000).then(() => p.child.kill('SIGKILL'))]);
}

async function schedulerRuns(client: Client): Promise<{ runId: string; startTime: number }[]> {
  const runs: { runId: string; startTime: number }[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = "${SCHEDULER_WORKFLOW_ID}"` }))
    runs.push({ runId: w.runId, startTime: w.startTime.getTime() });
  return runs.sort((a, b) => a.startTime - b.startTime);
}

async function measure(
  hosts: number,
  env: Awaited<ReturnType<typeof benchEnvironment>>,
  bundlePath: string,
): Promise<Record<string, unknown>> {
  const REQUESTS = Number(process.env.SCALE_REQUESTS ?? 10_000);
  const HOLD_MS = Number(process.env.SCALE_HOLD_MS ?? 1_000);
  const REQUESTERS = Number(process.env.SCALE_REQUESTERS ?? 40);
  /** requests waiting in the scheduler's queue at once (all of them by default) */
  const QUEUE_DEPTH = Number(process.env.SCALE_QUEUE_DEPTH ?? REQUESTS);
  const PER_PROCESS = Number(process.env.SCALE_HOSTS_PER_PROCESS ?? 250);
  const PROCESSES = Number(process.env.SCALE_HOST_PROCESSES ?? Math.ceil(hosts / PER_PROCESS));
  const connection = await Connection.connect({ address: env.temporalAddress });
  const client = new Client({ connection, namespace: NAMESPACE });
  // A fresh scheduler per N: the last N's hosts are gone.
  await client.workflow
    .getHandle(SCHEDULER_WORKFLOW_ID)
    .terminate('next bench size')
    .catch((err: unknown) => {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    });
  const parts: Part[] = [];
  const serverPid = findServerPid(env.temporalAddress);
  const samples = { server: 0 };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const p of parts) p.peakRssMiB = Math.max(p.peakRssMiB, treeRss(p.child.pid));
      samples.server = Math.max(samples.server, rssMiB(serverPid));
      await sleep(1_000);
    }
  })();
  const result: Record<string, unknown> = {
    hosts,
    requests: REQUESTS,
    holdMs: HOLD_MS,
    requesters: REQUESTERS,
    queueDepth: QUEUE_DEPTH,
    hostProcesses: PROCESSES,
    pollersPerHost: HOST_ACTIVITY_POLLERS,
    frontendNamespaceCount: POLLER_LIMIT,
  };
  try {
    parts.push(await startPart('control', ['control', env.temporalAddress, bundlePath]));
    await client.workflow.signalWithStart('schedulerWorkflow', {
      workflowId: SCHEDULER_WORKFLOW_ID,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [{ config: DEFAULT_SCHEDULER_CONFIG }],
      signal: configureSignal,
      signalArgs: [DEFAULT_SCHEDULER_CONFIG],
    });
    const registerStart = Date.now();
    const per = Math.ceil(hosts / PROCESSES);
    const starting: Promise<Part>[] = [];
    for (let k = 0; k < PROCESSES; k++) {
      const first = k * per;
      const count = Math.min(per, hosts - first);
      if (count > 0)
        starting.push(
          startPart(`hosts-${k}`, ['hosts', env.temporalAddress, String(first), String(count), String(hosts)]),
        );
    }
    parts.push(...(await Promise.all(starting)));
    const scheduler = client.workflow.getHandle(SCHEDULER_WORKFLOW_ID);
    for (;;) {
      // A busy scheduler may not answer a query in time (its isolate's 5 s limit): ask again.
      const lab = await scheduler.query(labQuery).catch((err: unknown) => {
        console.log(`N=${hosts}: the lab query failed (${String(err)}); asking again`);
        return undefined;
      });
      const online = lab?.hosts.filter((h) => h.online).length ?? 0;
      if (online >= hosts) break;
      if (Date.now() - registerStart > 15 * 60_000)
        throw new Error(`only ${online} of ${hosts} hosts online after 15 minutes`);
      await sleep(1_000);
    }
    result.registerSeconds = round((Date.now() - registerStart) / 1000);
    // Let every presence activity start (its pickup) before the load.
    await sleep(15_000);
    const idle = {
      control: treeRss(parts[0]!.child.pid),
      hosts: parts.slice(1).reduce((s, p) => s + treeRss(p.child.pid), 0),
      server: rssMiB(serverPid),
    };
    console.log(
      `N=${hosts}: ${hosts} hosts online in ${String(result.registerSeconds)} s; idle RSS control ${round(idle.control)} MiB, hosts ${round(idle.hosts)} MiB, server ${round(idle.server)} MiB`,
    );
    result.memoryMiB = {
      idle: {
        control: round(idle.control),
        hosts: round(idle.hosts),
        perHost: round(idle.hosts / hosts, 2),
        temporalServer: round(idle.server),
      },
    };
    if (REQUESTS === 0) return result;

    // The load: every request queued at once, spread over the requesters.
    const random = rng(hosts);
    const requests: ScaleRequest[] = Array.from({ length: REQUESTS }, (_, i) => ({
      requestId: `r${i}`,
      workerClass: classOf(Math.floor(random() * hosts), hosts),
      priority: PRIORITIES[Math.floor(random() * PRIORITIES.length)]!,
    }));
    const share = Math.ceil(REQUESTS / REQUESTERS);
    const loadStart = Date.now();
    const handles = await Promise.all(
      Array.from({ length: REQUESTERS }, (_, k) => {
        const mine = requests.slice(k * share, (k + 1) * share);
        const input: ScaleRequesterInput = {
          requests: mine,
          holdMs: HOLD_MS,
          window: Math.max(1, Math.floor(QUEUE_DEPTH / REQUESTERS)),
        };
        return client.workflow.start('scaleRequesterWorkflow', {
          workflowId: `scale-${hosts}-${k}-${loadStart}`,
          taskQueue: CONTROL_TASK_QUEUE,
          args: [input],
        });
      }),
    );
    let done = 0;
    const progress = setInterval(
      () =>
        console.log(
          `N=${hosts}: ${done}/${REQUESTERS} requesters done after ${Math.round((Date.now() - loadStart) / 1000)} s`,
        ),
      30_000,
    );
    // Polled, not long-polled: a loaded dev server fails long history polls now and then.
    const results = await Promise.all(
      handles.map(async (h) => {
        for (;;) {
          const { status } = await h.describe().catch(() => ({ status: { name: 'UNKNOWN' } }));
          if (status.name === 'COMPLETED') break;
          if (status.name !== 'RUNNING' && status.name !== 'UNKNOWN')
            throw new Error(`requester ${h.workflowId} ended ${status.name}`);
          await sleep(2_000);
        }
        const r = (await h.result()) as ScaleRequesterResult;
        done++;
        return r;
      }),
    );
    clearInterval(progress);
    const loadEnd = Date.now();
    const latencies = results.flatMap((r) => Object.values(r.times).map(([sent, granted]) => granted - sent));
    const loadSeconds = (loadEnd - loadStart) / 1000;

    // The scheduler's histories over the load.
    const runs = (await schedulerRuns(client)).filter((r) => r.startTime <= loadEnd);
    const taskMs: number[] = [];
    const grants = new GrantTurnaround();
    let events = 0;
    let runsDuring = 0;
    let maxRunEvents = 0;
    for (const run of runs) {
      const history = await client.workflow.getHandle(SCHEDULER_WORKFLOW_ID, run.runId).fetchHistory();
      const all = history.events ?? [];
      maxRunEvents = Math.max(maxRunEvents, all.length);
      if (run.startTime >= loadStart) runsDuring++;
      let started: number | undefined;
      for (const e of all) {
        const t = eventTime(e);
        if (t < loadStart || t > loadEnd) continue;
        events++;
        if (e.workflowTaskStartedEventAttributes) started = t;
        if (e.workflowTaskCompletedEventAttributes && started !== undefined) {
          taskMs.push(t - started);
          started = undefined;
        }
        grants.observe(e, t);
      }
    }
    Object.assign(result, {
      loadSeconds: round(loadSeconds),
      grantsPerSecond: round(latencies.length / loadSeconds),
      denied: results.reduce((s, r) => s + r.denied, 0),
      grantLatencyMs: {
        p50: round(percentile(latencies, 50)),
        p99: round(percentile(latencies, 99)),
        max: round(percentile(latencies, 100)),
      },
      releaseToNextGrantMs: {
        p50: round(percentile(grants.turnaround, 50)),
        p99: round(percentile(grants.turnaround, 99)),
      },
      schedulerWorkflowTaskMs: {
        p50: round(percentile(taskMs, 50)),
        p99: round(percentile(taskMs, 99)),
        max: round(percentile(taskMs, 100)),
        tasks: taskMs.length,
      },
      schedulerEvents: events,
      schedulerEventsPerHour: Math.round((events / loadSeconds) * 3600),
      continueAsNew: {
        runsDuringLoad: runsDuring,
        perHour: round((runsDuring / loadSeconds) * 3600),
        largestRunEvents: maxRunEvents,
      },
      memoryMiB: {
        idle: {
          control: round(idle.control),
          hosts: round(idle.hosts),
          perHost: round(idle.hosts / hosts, 2),
          temporalServer: round(idle.server),
        },
        peak: {
          control: round(parts[0]!.peakRssMiB),
          hosts: round(parts.slice(1).reduce((s, p) => s + p.peakRssMiB, 0)),
          temporalServer: round(samples.server),
        },
      },
    });
    console.log(JSON.stringify(result, null, 2));
    return result;
  } finally {
    sampling = false;
    await sampler;
    await Promise.all(parts.slice(1).map(stopPart));
    if (parts[0]) await stopPart(parts[0]);
    await connection.close();
  }
}

/** The dev server's pid: the process listening on the address's port. */
function findServerPid(address: string): number | undefined {
  const port = Number(address.split(':').pop());
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A') inodes.add(cols[9]!);
      }
    } catch {
      // no IPv6
    }
  }
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      for (const fd of fs.readdirSync(`/proc/${entry}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return Number(entry);
      }
    } catch {
      // not ours to read
    }
  }
  return undefined;
}

async function main(): Promise<void> {
  const sizes = (process.env.SCALE_HOSTS ?? '200').split(',').map(Number);
  // Every host keeps HOST_ACTIVITY_POLLERS long polls open: past the frontend's default of
  // 1,200 per namespace (600 hosts) polls are refused ("namespace concurrent poller limit
  // exceeded"), so a big lab raises it, as the bench does.
  const env = await benchEnvironment('scale', ['--dynamic-config-value', `frontend.namespaceCount=${POLLER_LIMIT}`]);
  const bundle = await bundleWorkflowCode({
    workflowsPath: path.join(PROJECT_ROOT, 'bench', 'scale-workflows.ts'),
    logger: quietLog,
  });
  const bundlePath = path.join(env.outputDir, 'scale-workflow-bundle.js');
  await fsp.writeFile(bundlePath, bundle.code);
  const file = path.join(PROJECT_ROOT, 'bench', 'results', 'scale.json');
  const previous = (await fsp
    .readFile(file, 'utf8')
    .then((t) => JSON.parse(t) as { byHosts?: Record<string, unknown> })
    .catch(() => ({}))) as { byHosts?: Record<string, unknown> };
  const byHosts: Record<string, unknown> = { ...previous.byHosts };
  try {
    for (const n of sizes) {
      try {
        byHosts[String(n)] = { date: new Date().toISOString(), ...(await measure(n, env, bundlePath)) };
      } catch (err) {
        console.error(`N=${n} failed: ${String(err)}`);
        byHosts[String(n)] = { date: new Date().toISOString(), hosts: n, failed: String(err) };
      }
      await writeResult('scale', { byHosts });
    }
  } finally {
    await env.stop();
  }
  console.log(`written ${file}`);
}

if (ROLE !== 'main') Runtime.install({ logger: new DefaultLogger('WARN') });
if (ROLE === 'control') await runControl(process.argv[3]!, process.argv[4]!);
else if (ROLE === 'hosts')
  await runHosts(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
else await main();
