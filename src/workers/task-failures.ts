/**
 * @module Workflow task failures this process's workers saw. The SDK's core logs
 * "Failing workflow task" each time a workflow task fails (an unhandled rejection, an
 * error that is not an ApplicationFailure, nondeterminism). Temporal retries such a task
 * for ever, so one of these is a workflow that may look stuck. The control worker
 * exports the count (`testbay_workflow_task_failures_total`); the test lab fails any
 * test during which one happened.
 */

export const FAILING_TASK_MESSAGE = 'Failing workflow task';

export interface TaskFailure {
  at: string;
  runId?: string;
  /** the failure as the SDK described it (first 2,000 characters) */
  failure: string;
}

const RECENT_KEPT = 20;
let total = 0;
const recent: TaskFailure[] = [];

/** Looks at one SDK log entry; records it when it reports a failed workflow task. */
export function noteSdkLogEntry(message: string, meta: Record<string, unknown> | undefined): void {
  if (message !== FAILING_TASK_MESSAGE) return;
  total++;
  const runId = meta?.run_id ?? meta?.runId;
  recent.push({
    at: new Date().toISOString(),
    ...(typeof runId === 'string' ? { runId } : {}),
    failure: failureMessage(
      typeof meta?.failure === 'string' ? meta.failure : JSON.stringify(meta?.failure ?? meta ?? {}),
    ).slice(0, 2_000),
  });
  if (recent.length > RECENT_KEPT) recent.shift();
}

/** The failure's message out of core's debug text (`Failure { failure: Some(Failure { message: "…", …`). */
function failureMessage(debug: string): string {
  const m = /message: "((?:[^"\\]|\\.)*)"/.exec(debug);
  return m ? m[1]!.replace(/\\"/g, '"').replace(/\\n/g, '\n') : debug;
}

/** How many workflow tasks failed in this process, and the latest few. */
export function taskFailures(): { total: number; recent: readonly TaskFailure[] } {
  return { total, recent: [...recent] };
}

/** The Prometheus text for this process's count. */
export function taskFailureMetrics(): string {
  return [
    '# HELP testbay_workflow_task_failures_total Workflow tasks that failed in this control worker (each is retried by Temporal; one that keeps failing is a stuck workflow).',
    '# TYPE testbay_workflow_task_failures_total counter',
    `testbay_workflow_task_failures_total ${total}`,
    '',
  ].join('\n');
}

/** What a control worker tells the API about its failed workflow tasks (shown on the hosts page). */
export interface TaskFailureReport {
  worker: string;
  total: number;
  recent: TaskFailure[];
}

/**
 * Reports this process's count to the API whenever it grows, and again every minute while
 * it is not zero (an API server that restarted learns it again). Returns a stop function.
 */
export function reportTaskFailures(
  send: (report: TaskFailureReport) => Promise<void>,
  worker: string,
  everyMs = 5_000,
): () => void {
  let sent = 0;
  let sentAt = 0;
  const tick = () => {
    const { total: now, recent: latest } = taskFailures();
    if (now === 0 || (now === sent && Date.now() - sentAt < 60_000)) return;
    send({ worker, total: now, recent: [...latest] }).then(
      () => {
        sent = now;
        sentAt = Date.now();
      },
      () => undefined, // the API may be restarting: the next tick tries again
    );
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
