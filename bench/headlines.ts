/**
 * The benchmarks `npm run bench` runs, and how each one's headline figures and goal are
 * read from its bench/results/<name>.json (for run-all's summary and docs/benchmarks.md).
 */
export type Result = Record<string, unknown> & { date?: string };
type Num = number | undefined;

export interface Bench {
  name: string;
  /** what it measures, for docs/benchmarks.md */
  what: string;
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
export const BENCHES: Bench[] = [
  {
    name: 'store',
    what: '200,000 submissions and 1,000,000 job records seeded; 200 concurrent log writers; PGlite and PostgreSQL',
    deadlineMs: 30 * MIN,
    headline: (r) => {
      const p50 = (engine: string) =>
        Math.max(
          ...Object.values(((r[engine] as Result | undefined)?.listing ?? {}) as Record<string, { p50: number }>).map(
            (l) => l.p50,
          ),
        );
      return {
        figures: `${get(r, 'submissions')} submissions, ${get(r, 'jobs')} jobs: start-up pglite ${get(r, 'pglite', 'startupMs')} ms, postgres ${get(r, 'postgres', 'startupMs')} ms; listing p50 ≤ ${p50('pglite')} / ${p50('postgres')} ms; log appends ${get(r, 'pglite', 'appends', 'perSecond')} / ${get(r, 'postgres', 'appends', 'perSecond')} per s (pglite / postgres)`,
        goal: 'start-up < 2 s; listing p50 < 50 ms; appends ≥ 2,000/s on PostgreSQL',
        met: r.goalMet === true,
      };
    },
  },
  {
    name: 'asset-cache',
    what: 'a 100 MB asset over http and from a file, miss and hit',
    deadlineMs: 10 * MIN,
    headline: (r) => ({
      figures: `${get(r, 'sizeMB')} MB asset: http miss ${get(r, 'http', 'missMs')} ms, hit ${get(r, 'http', 'hitMs')} ms; file miss ${get(r, 'file', 'missMs')} ms, hit ${get(r, 'file', 'hitMs')} ms`,
    }),
  },
  {
    name: 'log-latency',
    what: "a runner's line → seen by a follower over SSE, at two flush intervals",
    deadlineMs: 10 * MIN,
    headline: (r) => ({
      figures: ((r.runs as Result[] | undefined) ?? [])
        .map((x) => `flush ${get(x, 'flushMs')} ms: p50 ${get(x, 'p50')} ms, p90 ${get(x, 'p90')} ms`)
        .join('; '),
    }),
  },
  {
    name: 'chain-gap',
    what: '50 directly-chained trivial jobs on one host (and 20 with a 300-ms runner)',
    deadlineMs: 10 * MIN,
    headline: (r) => ({
      figures: `gap p50 ${get(r, 'gapMs', 'p50')} ms, p95 ${get(r, 'gapMs', 'p95')} ms over ${get(r, 'jobs')} jobs`,
      goal: 'p50 < 50 ms',
      met: (get(r, 'gapMs', 'p50') ?? Infinity) < 50,
    }),
  },
  {
    name: 'failover',
    what: 'a host killed under a running job, 5 rounds',
    deadlineMs: 15 * MIN,
    headline: (r) => ({
      figures: `SIGKILL → retry runs: median ${get(r, 'failoverMs', 'median')} ms (min ${get(r, 'failoverMs', 'min')}, max ${get(r, 'failoverMs', 'max')}), heartbeat timeout ${get(r, 'heartbeatTimeoutMs')} ms`,
      goal: '≤ heartbeat timeout + 1 s',
      met: r.goalMet === true && r.lineageOk === true,
    }),
  },
  {
    name: 'dev-supervision',
    what: 'kill -9 of each process of `testbay dev` under a running job',
    deadlineMs: 10 * MIN,
    headline: (r) => ({
      figures: `testbay dev, SIGKILL under a 20-s job: host → retry runs ${get(r, 'host', 'failoverMs')} ms, host online again ${get(r, 'host', 'hostOnlineMs')} ms; running again: control ${get(r, 'parts', 'control', 'runningAgainMs')} ms, API ${get(r, 'parts', 'api', 'runningAgainMs')} ms, Temporal ${get(r, 'parts', 'temporal', 'runningAgainMs')} ms`,
      goal: 'every job passed',
      met: r.allPassed === true,
    }),
  },
  {
    name: 'batch',
    what: '2,000 tests of 20 ms in batches of 50 on 10 hosts, clean and with 2 batches killed',
    deadlineMs: 20 * MIN,
    headline: (r) => ({
      figures: `${get(r, 'tests')} tests: clean ${get(r, 'clean', 'wallMs')} ms (${get(r, 'clean', 'overheadPerTestMs')} ms overhead per test), faulted ${get(r, 'faulted', 'wallMs')} ms (×${get(r, 'ratio')}); lost ${(get(r, 'clean', 'lost') ?? 0) + (get(r, 'faulted', 'lost') ?? 0)}, duplicates ${(get(r, 'clean', 'duplicates') ?? 0) + (get(r, 'faulted', 'duplicates') ?? 0)}`,
      goal: 'faulted ≤ 1.15 × clean; lost 0; duplicates 0',
      met:
        (get(r, 'ratio') ?? Infinity) <= 1.15 &&
        get(r, 'clean', 'lost') === 0 &&
        get(r, 'faulted', 'lost') === 0 &&
        get(r, 'clean', 'duplicates') === 0 &&
        get(r, 'faulted', 'duplicates') === 0,
    }),
  },
  {
    name: 'throughput',
    what: 'single-job submissions with a trivial runner on 10–20 hosts; bare Temporal (one workflow, one activity) and spawning the same runner in the same run',
    deadlineMs: 45 * MIN,
    headline: (r) => ({
      figures: `${get(r, 'jobs')} jobs on ${get(r, 'hosts')} hosts: Testbay ${get(r, 'testbay', 'jobsPerSec')} jobs/s (queue→start p50 ${get(r, 'testbay', 'queueToStartMs', 'p50')} ms, p99 ${get(r, 'testbay', 'queueToStartMs', 'p99')} ms), bare ${get(r, 'bare', 'jobsPerSec')}, spawn ${get(r, 'spawn', 'jobsPerSec')}; ratio ${get(r, 'ratio', 'vsBare')} (vs spawn ${get(r, 'ratio', 'vsSpawn')}); ${get(r, 'testbay', 'eventsPerJob')} history events and ${get(r, 'testbay', 'cpuMsPerJob', 'total')} ms CPU per job`,
      goal: 'Testbay/bare ≥ 0.5',
      met: r.goalMet === true,
    }),
  },
  {
    name: 'dispatch',
    what: '50 trivial single-job submissions one after another on an idle lab of one host; bare Temporal workflow start → activity start in the same run',
    deadlineMs: 10 * MIN,
    headline: (r) => ({
      figures: `submit → runner start p50 ${get(r, 'testbay', 'toStartMs', 'p50')} ms (p90 ${get(r, 'testbay', 'toStartMs', 'p90')}), → done p50 ${get(r, 'testbay', 'toDoneMs', 'p50')} ms; bare start → activity start p50 ${get(r, 'bare', 'toStartMs', 'p50')} ms (×${get(r, 'ratio')}); ${get(r, 'tasksBeforeRunner')} workflow tasks before the runner`,
      goal: 'submit → runner start p50 ≤ 200 ms',
      met: r.goalMet === true,
    }),
  },
  {
    name: 'scale',
    what: 'N simulated hosts (real Temporal workers with the real presence activity, 250 per process) against one scheduler; lease requests of mixed classes and priorities held and released by requester workflows through the real lease client',
    deadlineMs: 45 * MIN,
    headline: (r) => ({
      figures: Object.values((r.byHosts ?? {}) as Record<string, Result>)
        .map((x) =>
          x.failed
            ? `${get(x, 'hosts')} hosts: failed`
            : `${get(x, 'hosts')} hosts: grant p50 ${get(x, 'grantLatencyMs', 'p50')} ms, p99 ${get(x, 'grantLatencyMs', 'p99')} ms; scheduler task p50 ${get(x, 'schedulerWorkflowTaskMs', 'p50')} ms; ${get(x, 'schedulerEventsPerHour')} events/h`,
        )
        .join('; '),
    }),
  },
];
