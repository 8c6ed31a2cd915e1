/**
 * @module Prometheus metrics at `GET /metrics` (text format 0.0.4, a read token): the lab
 * from the scheduler at scrape time (hosts by state, each host's state, the lease queue
 * and its oldest wait), running submissions from the store, and counters fed by the
 * result store's change events: jobs finished by result and abort cause, submissions
 * finished by result, and failover durations. A failover is measured from the loss of
 * the host — for `host-lost`, the last time the host uploaded anything for the aborted
 * attempt (its last sign of life the API saw; a heartbeat reaches only Temporal), else
 * the attempt's recorded end — to the moment the re-scheduled clone's runner starts, and
 * observed as soon as it starts. Counters live in this API process, fed by the events of
 * every API server on the database: each server counts the whole lab (since it started),
 * so with several servers take any one of them (or max()), not their sum.
 */
import { Router } from 'express';
import { AbortCause, type JobResult } from '../../domain/outcome.js';
import { HOST_STATES } from '../../domain/lab.js';
import type { Logger } from '../../logger.js';
import { authorize } from '../middleware.js';
import type { JobChange, JobRecord, ResultStore, StoreEvent } from '../store/result-store.js';
import type { TemporalGateway } from '../temporal-gateway.js';
import type { RouteDeps } from './deps.js';

export const FAILOVER_BUCKETS_S = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (l: Record<string, string>) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${label(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count += 1;
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i]! += 1;
    });
  }
}

/** Counts outcomes from the store's change events; renders everything at scrape time. */
export class LabMetrics {
  private readonly jobs = new Map<string, number>();
  private readonly submissions = new Map<string, number>();
  /** job ids counted per running submission (a job's end is seen once, from whichever event comes first) */
  private readonly counted = new Map<string, Set<string>>();
  private readonly ended = new Set<string>();
  readonly failover = new Histogram(FAILOVER_BUCKETS_S);
  /** clones whose failover was observed (or is being looked up) */
  private readonly failedOver = new Set<string>();

  constructor(
    private readonly store: ResultStore,
    private readonly log: Logger,
    private readonly gateway?: Pick<TemporalGateway, 'querySubmission'>,
  ) {
    store.subscribe(
      (c) =>
        void this.onChange(c).catch((err: unknown) =>
          log.warn('metrics: could not count a change', { error: String(err) }),
        ),
    );
  }

  /**
   * One failover: from the loss of the aborted attempt's host to the clone's start. Each
   * clone counts once, whether seen as it starts or, failing that, when its submission ends.
   */
  private async observeFailover(
    cloneId: string,
    originalId: string,
    clone?: Pick<JobRecord, 'startedAt'>,
  ): Promise<void> {
    const [c, original] = await Promise.all([clone ?? this.store.getJob(cloneId), this.store.getJob(originalId)]);
    const start = c?.startedAt;
    const lost = original && lossTime(original);
    if (!start || !lost) {
      this.failedOver.delete(cloneId);
      return;
    }
    this.failover.observe(Math.max(0, (Date.parse(start) - Date.parse(lost)) / 1000));
  }

  /** A clone's runner started: look up which attempt it re-runs (the workflow knows) and observe at once. */
  private async cloneStarted(job: JobChange): Promise<void> {
    this.failedOver.add(job.id);
    if (this.failedOver.size > 10_000) this.failedOver.delete(this.failedOver.values().next().value!);
    const view = await this.gateway?.querySubmission(job.submissionId).catch(() => undefined);
    const original = view?.jobs.find((j) => j.id === job.id)?.clonedFrom;
    if (!original) {
      // Not known yet: the submission's end will tell.
      this.failedOver.delete(job.id);
      return;
    }
    await this.observeFailover(job.id, original, job);
  }

  private countJob(submissionId: string, jobId: string, result: Pick<JobResult, 'kind'> & { cause?: string }): void {
    const seen = this.counted.get(submissionId) ?? new Set<string>();
    if (seen.has(jobId)) return;
    seen.add(jobId);
    this.counted.set(submissionId, seen);
    const key = `${result.kind}\u0000${result.kind === 'aborted' ? (result.cause ?? 'none') : 'none'}`;
    this.jobs.set(key, (this.jobs.get(key) ?? 0) + 1);
  }

  private async onChange(c: StoreEvent): Promise<void> {
    if (c.kind === 'log' || c.kind === 'resync') return;
    if (c.kind === 'job') {
      if (c.job.sealed && c.job.result && !this.ended.has(c.job.submissionId))
        this.countJob(c.job.submissionId, c.job.id, c.job.result);
      // Attempts after the first are re-scheduled clones of an aborted recipe set.
      if (c.job.attempt > 1 && c.job.startedAt && !this.failedOver.has(c.job.id)) await this.cloneStarted(c.job);
      return;
    }
    if (this.ended.has(c.id)) return;
    const final = (await this.store.getSubmission(c.id))?.final;
    if (!final) return;
    this.ended.add(c.id);
    if (this.ended.size > 10_000) this.ended.delete(this.ended.values().next().value!);
    if (final.result) this.submissions.set(final.result, (this.submissions.get(final.result) ?? 0) + 1);
    // Jobs that never ran (skipped, cancelled while waiting, no host left) have no job record.
    for (const j of final.jobs) if (j.result) this.countJob(c.id, j.id, j.result);
    this.counted.delete(c.id);
    // Clones whose start was missed (the lookup failed, the API restarted meanwhile).
    for (const j of final.jobs) {
      if (!j.clonedFrom || !j.clonedFrom.startsWith(`${c.id}.`) || this.failedOver.has(j.id)) continue;
      this.failedOver.add(j.id);
      await this.observeFailover(j.id, j.clonedFrom);
    }
  }

  async render(gateway: TemporalGateway): Promise<string> {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [Record<string, string>, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [l, v] of samples) out.push(`${name}${labels(l)} ${v}`);
    };
    const lab = await gateway.lab().catch((err: unknown) => {
      this.log.debug('metrics: no lab view', { error: String(err) });
      return undefined;
    });
    metric('testbay_scheduler_up', 'gauge', 'Whether the scheduler workflow answered its query.', [[{}, lab ? 1 : 0]]);
    if (lab) {
      metric(
        'testbay_hosts',
        'gauge',
        'Hosts by state, as the scheduler sees them.',
        HOST_STATES.map((s) => [{ state: s }, lab.hosts.filter((h) => h.state === s).length]),
      );
      metric(
        'testbay_host_state',
        'gauge',
        'Each host, labelled with its current state (always 1).',
        lab.hosts.map((h) => [{ host: h.id, state: h.state }, 1]),
      );
      metric(
        'testbay_host_consecutive_aborts',
        'gauge',
        'Infrastructure aborts in a row on each host (it is marked broken at the threshold).',
        lab.hosts.map((h) => [{ host: h.id }, h.consecutiveAborts]),
      );
      metric('testbay_queue_length', 'gauge', 'Lease requests (recipe sets) waiting for hosts.', [
        [{}, lab.queue.length],
      ]);
      const oldest = Math.min(...lab.queue.map((q) => q.enqueuedAt));
      metric('testbay_queue_oldest_wait_seconds', 'gauge', 'How long the oldest waiting lease request has waited.', [
        [{}, lab.queue.length ? Math.max(0, (Date.now() - oldest) / 1000) : 0],
      ]);
    }
    const running = await this.store.listSubmissions({ limit: 100_000, state: 'running' });
    metric('testbay_submissions_running', 'gauge', 'Submissions not yet finished.', [[{}, running.length]]);
    metric(
      'testbay_jobs_finished_total',
      'counter',
      'Job attempts finished, by result and (for aborted) the typed cause of the infrastructure fault.',
      [...this.jobs].sort().map(([key, v]) => {
        const [result, cause] = key.split('\u0000') as [string, string];
        return [{ result, cause }, v];
      }),
    );
    metric(
      'testbay_submissions_finished_total',
      'counter',
      'Submissions finished, by result.',
      [...this.submissions].sort().map(([result, v]) => [{ result }, v]),
    );
    const h = this.failover;
    out.push(
      "# HELP testbay_failover_seconds From the loss of an aborted attempt's host (its last upload for host-lost, else the attempt's end) to the start of its re-scheduled clone's runner.",
      '# TYPE testbay_failover_seconds histogram',
    );
    h.buckets.forEach((b, i) => out.push(`testbay_failover_seconds_bucket{le="${b}"} ${h.counts[i]}`));
    out.push(
      `testbay_failover_seconds_bucket{le="+Inf"} ${h.count}`,
      `testbay_failover_seconds_sum ${h.sum}`,
      `testbay_failover_seconds_count ${h.count}`,
    );
    return `${out.join('\n')}\n`;
  }
}

/** When the aborted attempt's host was lost: its last upload for host-lost (the fault came before its detection), else the recorded end. */
function lossTime(original: JobRecord): string | undefined {
  const r = original.result;
  if (r?.kind === 'aborted' && r.cause === AbortCause.HostLost && original.lastUploadAt) return original.lastUploadAt;
  return original.endedAt;
}

export function metricsRoutes(deps: RouteDeps, metrics = new LabMetrics(deps.store, deps.log, deps.gateway)): Router {
  const r = Router();
  r.get('/metrics', authorize(deps.tokens, 'read'), async (_req, res) => {
    res.type('text/plain; version=0.0.4; charset=utf-8').send(await metrics.render(deps.gateway));
  });
  return r;
}
