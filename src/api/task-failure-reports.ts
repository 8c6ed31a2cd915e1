/**
 * @module What control workers reported of their failed workflow tasks: each keeps a
 * count since it started (testbay_workflow_task_failures_total on its own /metrics) and
 * tells the API, which shows it on the hosts page so operators see a stuck workflow
 * before a user reports it. Kept in this API process; a control worker reports again
 * every minute while its count is not zero.
 */
import type { TaskFailureReport } from '../workers/task-failures.js';

export interface WorkerTaskFailures extends TaskFailureReport {
  /** when the API last heard from it */
  reportedAt: string;
}

export class TaskFailureReports {
  private readonly byWorker = new Map<string, WorkerTaskFailures>();

  record(report: TaskFailureReport): void {
    this.byWorker.set(report.worker, {
      ...report,
      recent: report.recent.slice(-5),
      reportedAt: new Date().toISOString(),
    });
    // A lab's control workers come and go; keep the latest few.
    if (this.byWorker.size > 50) this.byWorker.delete(this.byWorker.keys().next().value!);
  }

  /** Workers that reported failures, latest report first. */
  list(): WorkerTaskFailures[] {
    return [...this.byWorker.values()]
      .filter((w) => w.total > 0)
      .sort((a, b) => (a.reportedAt < b.reportedAt ? 1 : -1));
  }
}
