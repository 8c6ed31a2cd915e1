/**
 * `npm run bench`: runs every benchmark in turn, each as its own process (its own process
 * group, so whatever one leaves behind is stopped before the next starts and cannot slow
 * it), prints its output as it comes, kills a bench that runs past its deadline, and ends
 * with a table of the headline figures read from bench/results/*.json. Exits non-zero if
 * any bench failed, hung or wrote no fresh result.
 *
 *   npm run bench                       all of them
 *   npm run bench -- failover batch     only these (names as in BENCHES)
 *   BENCH_DEADLINE_MS=… npm run bench   one deadline for every bench instead of its own
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupMembers } from '../src/activities/host/process-group.js';
import { PROJECT_ROOT } from '../src/temporal/binary.js';

type Result = Record<string, unknown> & { date?: string };
type Num = number | undefined;

interface Bench {
  name: string;
  /** generous: several times what it takes on the 2-core development machine */
  deadlineMs: number;
  /** the headline figures and whether the goal was met, from its results JSON */
  headline(r: Result): { figures: string; goal?: string; met?: boolean };
}

const get = (r: Result, ...keys: string[]): Num => {
  let v: unknown = r;
  for (const k of keys) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' ? v : undefined;
};

const MIN = 60_000;
const BENCHES: Bench[] = [
  {
    name: 'store',
    deadlineMs: 30 * MIN,
    headline: (r) => {
      const p50 = (engine: string) => Math.max(...Object.values(((r[engine] as Result | undefined)?.listing ?? {}) as Record<string, { p50: number }>).map((l) => l.p50));
      return {
        figures: `${get(r, 'submissions')} submissions, ${get(r, 'jobs')} jobs: start-up pglite ${get(r, 'pglite', 'startupMs')} ms, postgres ${get(r, 'postgres', 'startupMs')} ms; listing p50 ≤ ${p50('pglite')} / ${p50('postgres')} ms; log appends ${get(r, 'pglite', 'appends', 'perSecond')} / ${get(r, 'postgres', 'appends', 'perSecond')} per s (pglite / postgres)`,
        goal: 'start-up < 2 s; listing p50 < 50 ms; appends ≥ 2,000/s on PostgreSQL',
        met: r.goalMet === true,
      };
    },
  },
  {
    name: 'asset-cache',
    deadlineMs: 10 * MIN,
    headline: (r) => ({ figures: `${get(r, 'sizeMB')} MB asset: http miss ${get(r, 'http', 'missMs')} ms, hit ${get(r, 'http', 'hitMs')} ms; file miss ${get(r, 'file', 'missMs')} ms, hit ${get(r, 'file', 'hitMs')} ms` }),
  },
  {
    name: 'log-latency',
    deadlineMs: 10 * MIN,
    headline: (r) => ({
      figures: ((r.runs as Result[] | undefined) ?? []).map((x) => `flush ${get(x, 'flushMs')} ms: p50 ${get(x, 'p50')} ms, p90 ${get(x, 'p90')} ms`).join('; '),
    }),
  },
  {
    name: 'chain-gap',
    deadlineMs: 10 * MIN,
    headline: (r) => ({ figures: `gap p50 ${get(r, 'gapMs', 'p50')} ms, p95 ${get(r, 'gapMs', 'p95')} ms over ${get(r, 'jobs')} jobs`, goal: 'p50 < 50 ms', met: (get(r, 'gapMs', 'p50') ?? Infinity) < 50 }),
  },
  {
    name: 'failover',
    deadlineMs: 15 * MIN,
    headline: (r) => ({
      figures: `SIGKILL → retry runs: median ${get(r, 'failoverMs', 'median')} ms (min ${get(r, 'failoverMs', 'min')}, max ${get(r, 'failoverMs', 'max')}), heartbeat timeout ${get(r, 'heartbeatTimeoutMs')} ms`,
      goal: '≤ heartbeat timeout + 1 s',
      met: r.goalMet === true && r.lineageOk === true,
    }),
  },
  {
    name: 'dev-supervision',
    deadlineMs: 10 * MIN,
    headline: (r) => ({
      figures: `testbay dev, SIGKILL under a 20-s job: host → retry runs ${get(r, 'host', 'failoverMs')} ms, host online again ${get(r, 'host', 'hostOnlineMs')} ms; running again: control ${get(r, 'parts', 'control', 'runningAgainMs')} ms, API ${get(r, 'parts', 'api', 'runningAgainMs')} ms, Temporal ${get(r, 'parts', 'temporal', 'runningAgainMs')} ms`,
      goal: 'every job passed',
      met: r.allPassed === true,
    }),
  },
  {
    name: 'batch',
    deadlineMs: 20 * MIN,
    headline: (r) => ({
      figures: `${get(r, 'tests')} tests: clean ${get(r, 'clean', 'wallMs')} ms, faulted ${get(r, 'faulted', 'wallMs')} ms (×${get(r, 'ratio')}); lost ${(get(r, 'clean', 'lost') ?? 0) + (get(r, 'faulted', 'lost') ?? 0)}, duplicates ${(get(r, 'clean', 'duplicates') ?? 0) + (get(r, 'faulted', 'duplicates') ?? 0)}`,
      goal: 'faulted ≤ 1.15 × clean; lost 0; duplicates 0',
      met: (get(r, 'ratio') ?? Infinity) <= 1.15 && get(r, 'clean', 'lost') === 0 && get(r, 'faulted', 'lost') === 0 && get(r, 'clean', 'duplicates') === 0 && get(r, 'faulted', 'duplicates') === 0,
    }),
  },
  {
    name: 'throughput',
    deadlineMs: 45 * MIN,
    headline: (r) => ({
      figures: `${get(r, 'jobs')} jobs on ${get(r, 'hosts')} hosts: Testbay ${get(r, 'testbay', 'jobsPerSec')} jobs/s (queue→start p50 ${get(r, 'testbay', 'queueToStartMs', 'p50')} ms, p99 ${get(r, 'testbay', 'queueToStartMs', 'p99')} ms), bare ${get(r, 'bare', 'jobsPerSec')}, spawn ${get(r, 'spawn', 'jobsPerSec')}; ratio ${get(r, 'ratio', 'vsBare')} (vs spawn ${get(r, 'ratio', 'vsSpawn')})`,
      goal: 'Testbay/bare ≥ 0.5',
      met: r.goalMet === true,
    }),
  },
  {
    name: 'scale',
    deadlineMs: 45 * MIN,
    headline: (r) => ({
      figures: Object.values((r.byHosts ?? {}) as Record<string, Result>)
        .map((x) => (x.failed ? `${get(x, 'hosts')} hosts: failed` : `${get(x, 'hosts')} hosts: grant p50 ${get(x, 'grantLatencyMs', 'p50')} ms, p99 ${get(x, 'grantLatencyMs', 'p99')} ms; scheduler task p50 ${get(x, 'schedulerWorkflowTaskMs', 'p50')} ms; ${get(x, 'schedulerEventsPerHour')} events/h`))
        .join('; '),
    }),
  },
];

interface Outcome {
  name: string;
  status: 'ok' | 'failed' | 'timed out' | 'no result';
  detail?: string;
  ms: number;
  result?: Result;
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w));
if (unknown.length > 0) {
  console.error(`unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  process.exit(2);
}
const selected = wanted.length > 0 ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;
const deadlineOverride = process.env.BENCH_DEADLINE_MS ? Number(process.env.BENCH_DEADLINE_MS) : undefined;

/** The bench running now (its process group), stopped if we are. */
let current: number | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (current !== undefined) killGroup(current, 'SIGKILL');
    process.exit(130);
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // nothing left in the group
  }
}

async function run(bench: Bench): Promise<Outcome> {
  const deadlineMs = deadlineOverride ?? bench.deadlineMs;
  const file = path.join(PROJECT_ROOT, 'bench', `${bench.name}.ts`);
  console.log(`\n=== ${bench.name} (deadline ${Math.round(deadlineMs / 1000)} s) ===`);
  const started = Date.now();
  // Its own process group: the dev server and hosts it starts go with it.
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'run-ts.js'), file], { cwd: PROJECT_ROOT, stdio: 'inherit', detached: true });
  const pgid = child.pid!;
  current = pgid;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    console.error(`\n${bench.name}: still running after ${Math.round(deadlineMs / 1000)} s: stopping it`);
    killGroup(pgid, 'SIGTERM');
    setTimeout(() => killGroup(pgid, 'SIGKILL'), 10_000).unref();
  }, deadlineMs);
  const { code, signal } = await exited;
  clearTimeout(timer);
  // Whatever it left running in its group (a dev server, a host) would load the next bench.
  const leftovers = groupMembers(pgid);
  if (leftovers.length > 0) {
    console.error(`${bench.name}: stopping ${leftovers.length} process(es) it left behind`);
    killGroup(pgid, 'SIGTERM');
    for (let i = 0; i < 50 && groupMembers(pgid).length > 0; i++) await sleep(100);
    killGroup(pgid, 'SIGKILL');
  }
  current = undefined;
  const ms = Date.now() - started;
  const result = await readResult(bench.name);
  const fresh = result?.date !== undefined && new Date(result.date).getTime() >= started;
  if (timedOut) return { name: bench.name, status: 'timed out', ms, ...(fresh ? { result } : {}) };
  if (code !== 0) return { name: bench.name, status: 'failed', detail: signal ? `killed by ${signal}` : `exit code ${code}`, ms, ...(fresh ? { result } : {}) };
  if (!fresh) return { name: bench.name, status: 'no result', detail: `bench/results/${bench.name}.json was not written`, ms };
  return { name: bench.name, status: 'ok', ms, ...(result ? { result } : {}) };
}

async function readResult(name: string): Promise<Result | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(PROJECT_ROOT, 'bench', 'results', `${name}.json`), 'utf8')) as Result;
  } catch {
    return undefined;
  }
}

const outcomes: Outcome[] = [];
for (const bench of selected) outcomes.push(await run(bench));

console.log('\n=== summary ===');
const rows = outcomes.map((o) => {
  const bench = BENCHES.find((b) => b.name === o.name)!;
  const h = o.result ? bench.headline(o.result) : undefined;
  const goal = h?.goal ? `${h.met ? 'met' : 'NOT met'}: ${h.goal}` : '';
  return [o.name, o.detail ? `${o.status} (${o.detail})` : o.status, `${Math.round(o.ms / 1000)} s`, h?.figures ?? '', goal];
});
const header = ['bench', 'status', 'took', 'figures', 'goal'];
const widths = header.map((_, i) => Math.max(header[i]!.length, ...rows.slice().map((r) => (i < 3 ? r[i]!.length : 0))));
const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ').trimEnd();
console.log(line(header));
for (const r of rows) {
  console.log(line(r.slice(0, 4)));
  if (r[4]) console.log(`${' '.repeat(widths[0]! + widths[1]! + widths[2]! + 6)}goal ${r[4]}`);
}
const machine = outcomes.find((o) => o.result)?.result?.machine as Record<string, unknown> | undefined;
if (machine) console.log(`machine: ${String(machine.cpus)} × ${String(machine.cpuModel)}, ${String(machine.memoryGiB)} GiB, node ${String(machine.node)}, ${String(machine.platform)}; results in bench/results/`);
const bad = outcomes.filter((o) => o.status !== 'ok');
if (bad.length > 0) console.error(`${bad.length} of ${outcomes.length} benches did not succeed: ${bad.map((o) => `${o.name} (${o.status})`).join(', ')}`);
process.exit(bad.length > 0 ? 1 : 0);
