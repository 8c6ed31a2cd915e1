/**
 * The suite's guard against stuck workflows: a workflow task that fails is retried by
 * Temporal for ever, and the workflow looks stuck. Every worker process a test starts is a
 * source of such failures: this process's own workers (counted from the SDK's log,
 * src/workers/task-failures.ts) and control workers in child processes (their
 * `testbay_workflow_task_failures_total`). `newFailures` says what failed since it was
 * last asked; test/setup/workflow-task-guard.ts asks around every test.
 */
import { taskFailures } from '../../src/workers/task-failures.js';

interface Source {
  describe: () => string;
  count: () => Promise<number | undefined>;
  seen: number;
}

const sources = new Map<string, Source>();

/** Registers a worker process whose workflow task failures the guard watches. */
export function watchTaskFailures(
  name: string,
  count: () => Promise<number | undefined>,
  describe: () => string = () => '',
): void {
  sources.set(name, { count, describe, seen: 0 });
}

export function unwatchTaskFailures(name: string): void {
  sources.delete(name);
}

/** A control worker in a child process: its /metrics counter. Unreachable (restarting) counts as no news. */
export function watchControlMetrics(name: string, metricsUrl: string): void {
  watchTaskFailures(
    name,
    async () => {
      const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      if (!res?.ok) return undefined;
      const m = /^testbay_workflow_task_failures_total (\d+)$/m.exec(await res.text());
      return m ? Number(m[1]) : undefined;
    },
    () => `see the control worker's log of ${name}`,
  );
}

watchTaskFailures(
  'this process',
  () => Promise.resolve(taskFailures().total),
  () =>
    taskFailures()
      .recent.map((f) => `  ${f.at} run ${f.runId ?? '?'}: ${f.failure.slice(0, 600)}`)
      .join('\n'),
);

/** Failures each source reported since the last call, described; empty when none. */
export async function newFailures(): Promise<string[]> {
  const found: string[] = [];
  for (const [name, source] of sources) {
    const now = await source.count();
    if (now === undefined || now <= source.seen) continue;
    found.push(`${now - source.seen} workflow task failure(s) in ${name}:\n${source.describe()}`);
    source.seen = now;
  }
  return found;
}
