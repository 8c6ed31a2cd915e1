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
import { writeBenchmarksDoc } from './benchmarks-doc.js';
import { BENCHES, type Bench, type Result } from './headlines.js';

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
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'run-ts.js'), file], {
    cwd: PROJECT_ROOT,
    stdio: 'inherit',
    detached: true,
  });
  const pgid = child.pid!;
  current = pgid;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
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
  if (code !== 0)
    return {
      name: bench.name,
      status: 'failed',
      detail: signal ? `killed by ${signal}` : `exit code ${code}`,
      ms,
      ...(fresh ? { result } : {}),
    };
  if (!fresh)
    return { name: bench.name, status: 'no result', detail: `bench/results/${bench.name}.json was not written`, ms };
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
  return [
    o.name,
    o.detail ? `${o.status} (${o.detail})` : o.status,
    `${Math.round(o.ms / 1000)} s`,
    h?.figures ?? '',
    goal,
  ];
});
const header = ['bench', 'status', 'took', 'figures', 'goal'];
const widths = header.map((_, i) =>
  Math.max(header[i]!.length, ...rows.slice().map((r) => (i < 3 ? r[i]!.length : 0))),
);
const line = (cells: string[]) =>
  cells
    .map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c))
    .join('  ')
    .trimEnd();
console.log(line(header));
for (const r of rows) {
  console.log(line(r.slice(0, 4)));
  if (r[4]) console.log(`${' '.repeat(widths[0]! + widths[1]! + widths[2]! + 6)}goal ${r[4]}`);
}
const machine = outcomes.find((o) => o.result)?.result?.machine as Record<string, unknown> | undefined;
if (machine)
  console.log(
    `machine: ${String(machine.cpus)} × ${String(machine.cpuModel)}, ${String(machine.memoryGiB)} GiB, node ${String(machine.node)}, ${String(machine.platform)}; results in bench/results/`,
  );
const bad = outcomes.filter((o) => o.status !== 'ok');
if (bad.length > 0)
  console.error(
    `${bad.length} of ${outcomes.length} benches did not succeed: ${bad.map((o) => `${o.name} (${o.status})`).join(', ')}`,
  );
if (outcomes.some((o) => o.status === 'ok')) console.log(`latest figures written to ${await writeBenchmarksDoc()}`);
process.exit(bad.length > 0 ? 1 : 0);
