/**
 * @module The one place events leave Testbay. The API calls it where it sees them: a
 * submission's final view stored (`submission.done`, and the commit's final status), a
 * job record finished (`job.done`), a submission with a commit accepted (the commit's
 * `pending` status); and its own poll of the lab finds hosts newly broken
 * (`host.broken`, whether the scheduler broke them after aborts or an operator did).
 * Each event becomes one delivery per subscription whose events and filter it passes,
 * recorded in the store (once, whichever API servers saw it), then the delivery queue's
 * workflow is woken. A wake that fails (Temporal down) is made up for by the redrive: now
 * and then the API starts every queue with deliveries left pending.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../../config.js';
import { CONTROL_TASK_QUEUE, parseJobId, submissionOfJob } from '../../domain/ids.js';
import type { ResultKind } from '../../domain/outcome.js';
import type { Submission } from '../../domain/job.js';
import type { SpecIssue } from '../../domain/parse-spec.js';
import type { SubmissionView } from '../../domain/views.js';
import {
  commitStateOf,
  commitStatusUrl,
  isUnder,
  deliveryQueue,
  deliveryWorkflowId,
  eventId,
  passesFilter,
  type CommitState,
  type EventFacts,
  type WebhookEvent,
} from '../../domain/webhooks.js';
import type { Logger } from '../../logger.js';
import type { PayloadKey } from '../../sealing.js';
import { wakeSignal, type DeliveryQueueInput } from '../../workflows/webhook-delivery-messages.js';
import type { HostView } from '../../workflows/scheduler-messages.js';
import { hostsOfView } from '../store/sql-store.js';
import type { NewDelivery, NotifyStore } from '../store/notify-store.js';
import type { JobRecord, ResultStore, SubmissionRecord } from '../store/result-store.js';
import type { DeliveryRequest } from '../notify-client.js';
import type { TemporalGateway } from '../temporal-gateway.js';
import { newNotifyId, SIGNATURE_HEADER, signBody } from './signature.js';

export interface NotifierDeps {
  notify: NotifyStore;
  store: ResultStore;
  gateway: TemporalGateway;
  client: () => Promise<Client>;
  payloadKey: PayloadKey;
  /** the API's public URL (links in payloads) */
  publicUrl: () => string;
  config: Config['notify'];
  log: Logger;
}

/** The sealing context of a subscription's secret: it opens for that subscription only. */
export const secretContext = (webhookId: string) => `webhook:${webhookId}`;

interface Event {
  kind: WebhookEvent;
  id: string;
  /** when it happened: a subscription made later does not hear of it */
  at: string;
  facts: EventFacts;
  payload: Record<string, unknown>;
}

export class Notifier {
  private hostTimer: NodeJS.Timeout | undefined;
  private redriveTimer: NodeJS.Timeout | undefined;
  /** host.broken events this server has enqueued already (the store would refuse them again anyway) */
  private readonly seenBroken = new Set<string>();
  private polling = false;

  constructor(private readonly deps: NotifierDeps) {}

  /** Starts the lab poll (host.broken) and the redrive of queues left pending. */
  start(): void {
    this.hostTimer = setInterval(() => void this.pollHosts(), this.deps.config.hostPollMs);
    this.hostTimer.unref();
    this.redriveTimer = setInterval(() => void this.redrive(), this.deps.config.redriveMs);
    this.redriveTimer.unref();
  }

  stop(): void {
    clearInterval(this.hostTimer);
    clearInterval(this.redriveTimer);
  }

  private link(path: string): string {
    return `${this.deps.publicUrl().replace(/\/+$/, '')}${path}`;
  }

  // ---- where events come from ----

  /** A submission's final view was stored: `submission.done`, and its commit's final status. */
  async submissionDone(view: SubmissionView): Promise<void> {
    const record = await this.deps.store.getSubmission(view.id);
    const junitUrl = this.link(`/api/v1/submissions/${view.id}/junit.xml`);
    await this.emit({
      kind: 'submission.done',
      id: eventId.submissionDone(view.id),
      at: view.endedAt ?? new Date().toISOString(),
      facts: {
        names: [
          ...(view.name ? [view.name] : []),
          ...view.jobs.map((j) => j.name),
          ...(view.batchRuns ?? []).map((r) => r.name),
        ],
        ...(view.result ? { result: view.result } : {}),
        hosts: hostsOfView(view),
        workerClasses: [...new Set(view.jobs.map((j) => j.workerClass).filter(Boolean))],
      },
      payload: {
        submission: view,
        ...(record?.submission.commit ? { commit: record.submission.commit } : {}),
        links: {
          dashboard: this.link(`/submissions/${view.id}`),
          api: this.link(`/api/v1/submissions/${view.id}`),
          junit: junitUrl,
        },
        junitUrl,
      },
    });
    if (record?.submission.commit) await this.commitStatus(record, commitStateOf(view.result), describeResult(view));
  }

  /** A job record was finished (a job that ran on a host ended). Batches of batch runs are reported with their run, in submission.done. */
  async jobDone(job: Omit<JobRecord, 'leaseToken'>): Promise<void> {
    if (parseJobId(job.id).kind !== 'job' || !job.result) return;
    if (!(await this.deps.notify.hasWebhooksFor('job.done'))) return;
    const record = await this.deps.store.getSubmission(job.submissionId);
    const workerClass = record?.plan.jobs.find((j) => j.name === job.name)?.workerClass;
    const { leaseId: _lease, tests, ...rest } = job as JobRecord;
    const counts = { passed: 0, failed: 0, error: 0, skipped: 0 };
    for (const t of tests ?? []) counts[t.status] += 1;
    await this.emit({
      kind: 'job.done',
      id: eventId.jobDone(job.id),
      at: job.endedAt ?? new Date().toISOString(),
      facts: {
        names: [job.name],
        result: job.result.kind,
        hosts: [job.hostId],
        workerClasses: workerClass ? [workerClass] : [],
      },
      payload: {
        job: {
          ...rest,
          ...(workerClass ? { workerClass } : {}),
          testCounts: counts,
          ...(record?.name ? { submissionName: record.name } : {}),
        },
        links: {
          dashboard: this.link(`/jobs/${job.id}`),
          submission: this.link(`/submissions/${submissionOfJob(job.id)}`),
          api: this.link(`/api/v1/jobs/${job.id}`),
          log: this.link(`/api/v1/jobs/${job.id}/log`),
        },
      },
    });
  }

  /** A host is broken (the scheduler's view): `host.broken`, once per breakage. */
  async hostBroken(host: HostView): Promise<void> {
    if (!host.broken) return;
    const id = eventId.hostBroken(host.id, host.broken.at);
    if (this.seenBroken.has(id)) return;
    await this.emit({
      kind: 'host.broken',
      id,
      at: new Date(host.broken.at).toISOString(),
      facts: { names: [], hosts: [host.id], workerClasses: host.workerClasses },
      payload: {
        host: {
          id: host.id,
          state: host.state,
          workerClasses: host.workerClasses,
          broken: host.broken,
          consecutiveAborts: host.consecutiveAborts,
        },
        links: { dashboard: this.link('/hosts'), api: this.link('/api/v1/hosts') },
      },
    });
    this.seenBroken.add(id);
  }

  /**
   * What this server refuses of a submission's `commit`: a statusUrl outside the
   * commit-status API (the token would go there).
   */
  commitIssues(submission: Submission): SpecIssue[] {
    const url = submission.commit?.statusUrl;
    const base = this.deps.config.commitStatus.url;
    if (url === undefined || (base !== undefined && isUnder(base, url))) return [];
    return [
      {
        path: ['commit', 'statusUrl'],
        message: base
          ? `must be under this server's commit-status API ${base}`
          : 'this server posts no commit statuses (TESTBAY_COMMIT_STATUS_URL is not set)',
      },
    ];
  }

  /** A submission with a commit was accepted: its status is `pending`. */
  async submissionAccepted(record: SubmissionRecord): Promise<void> {
    if (record.submission.commit) await this.commitStatus(record, 'pending', 'queued in Testbay');
  }

  /** A submission whose pending status went out was not started after all: its status is `error`. */
  async submissionRefused(record: SubmissionRecord, why: string): Promise<void> {
    if (record.submission.commit) await this.commitStatus(record, 'error', why);
  }

  // ---- turning events into deliveries ----

  private async emit(event: Event): Promise<void> {
    const hooks = (await this.deps.notify.webhooksFor(event.kind)).filter(
      (h) => Date.parse(h.createdAt) <= Date.parse(event.at) && passesFilter(h.filter, event.facts),
    );
    if (hooks.length === 0) return;
    const body = JSON.stringify({ event: event.kind, eventId: event.id, at: event.at, ...event.payload });
    const deliveries: NewDelivery[] = hooks.map((h) => ({
      id: newNotifyId('d'),
      queue: deliveryQueue.webhook(h.id),
      target: 'webhook',
      webhookId: h.id,
      eventId: event.id,
      event: event.kind,
      url: h.url,
      body,
    }));
    await this.enqueue(deliveries);
  }

  private async commitStatus(record: SubmissionRecord, state: CommitState, description: string): Promise<void> {
    const cs = this.deps.config.commitStatus;
    const commit = record.submission.commit;
    if (!commit) return;
    if (!cs.url) {
      this.deps.log.debug('a commit status is not posted: TESTBAY_COMMIT_STATUS_URL is not set', {
        submission: record.id,
      });
      return;
    }
    const body = JSON.stringify({
      state,
      target_url: this.link(`/submissions/${record.id}`),
      description: description.slice(0, 140),
      context: record.name ? `${cs.context}/${record.name}`.slice(0, 255) : cs.context,
    });
    await this.enqueue([
      {
        id: newNotifyId('d'),
        queue: deliveryQueue.commitStatus(record.id),
        target: 'commit-status',
        eventId: eventId.commitStatus(record.id, state),
        event: `commit.${state}`,
        url: commitStatusUrl(cs.url, commit),
        body,
      },
    ]);
  }

  private async enqueue(deliveries: NewDelivery[]): Promise<void> {
    const added = await this.deps.notify.enqueue(deliveries);
    await Promise.all([...new Set(added.map((d) => d.queue))].map((queue) => this.wake(queue)));
  }

  /** The input of a queue's workflow: this server's delivery configuration. */
  private queueInput(queue: string): DeliveryQueueInput {
    return { queue, config: this.deps.config.delivery };
  }

  /** Wakes (or starts) a queue's workflow; a failure is logged: the redrive starts it later. */
  async wake(queue: string): Promise<void> {
    try {
      const client = await this.deps.client();
      await client.workflow.signalWithStart('webhookDeliveryWorkflow', {
        workflowId: deliveryWorkflowId(queue),
        taskQueue: CONTROL_TASK_QUEUE,
        args: [this.queueInput(queue)],
        signal: wakeSignal,
        signalArgs: [],
      });
    } catch (err) {
      this.deps.log.warn('could not wake a delivery queue; it is started again later', { queue, error: String(err) });
    }
  }

  /** Starts the workflow of every queue with deliveries pending for a while, unless it runs. */
  async redrive(): Promise<void> {
    try {
      const queues = await this.deps.notify.queuesWithPending(new Date(Date.now() - this.deps.config.redriveMs));
      if (queues.length === 0) return;
      const client = await this.deps.client();
      for (const queue of queues) {
        await client.workflow.start('webhookDeliveryWorkflow', {
          workflowId: deliveryWorkflowId(queue),
          taskQueue: CONTROL_TASK_QUEUE,
          args: [this.queueInput(queue)],
          workflowIdConflictPolicy: 'USE_EXISTING',
        });
      }
    } catch (err) {
      this.deps.log.warn('delivery redrive failed', { error: String(err) });
    }
  }

  private async pollHosts(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      if (!(await this.deps.notify.hasWebhooksFor('host.broken'))) return;
      const lab = await this.deps.gateway.lab();
      for (const h of lab.hosts) if (h.broken) await this.hostBroken(h);
    } catch (err) {
      this.deps.log.debug('host poll for webhooks failed', { error: String(err) });
    } finally {
      this.polling = false;
    }
  }

  // ---- what the control worker's activity asks for ----

  /** The request of one attempt: URL, body and headers, signed with the subscription's secret. */
  async requestOf(deliveryId: string): Promise<DeliveryRequest | undefined> {
    const d = await this.deps.notify.getDelivery(deliveryId);
    if (!d) return undefined;
    const recordedAttempts = d.attempts.map((a) => a.attempt);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Testbay-Hookshot' };
    if (d.target === 'webhook') {
      const hook = d.webhookId ? await this.deps.notify.getWebhook(d.webhookId) : undefined;
      // Deleted meanwhile: its pending deliveries were cancelled with it.
      if (!hook)
        return {
          id: d.id,
          state: d.state === 'pending' ? 'cancelled' : d.state,
          target: d.target,
          url: d.url,
          headers,
          body: '',
          recordedAttempts,
        };
      headers[SIGNATURE_HEADER] = signBody(
        this.deps.payloadKey.open(hook.secretSealed, secretContext(hook.id)),
        d.body,
      );
      headers['x-testbay-event'] = d.event;
      headers['x-testbay-event-id'] = d.eventId;
      headers['x-testbay-delivery'] = d.id;
    } else {
      headers.accept = 'application/vnd.github+json';
    }
    return { id: d.id, state: d.state, target: d.target, url: d.url, headers, body: d.body, recordedAttempts };
  }
}

function describeResult(view: SubmissionView): string {
  const jobs = view.jobs.length;
  const by = new Map<ResultKind | 'unfinished', number>();
  for (const j of view.jobs) by.set(j.result?.kind ?? 'unfinished', (by.get(j.result?.kind ?? 'unfinished') ?? 0) + 1);
  const parts = [...by.entries()].map(([k, n]) => `${n} ${k}`).join(', ');
  return `${view.result ?? 'ended'}: ${jobs} job${jobs === 1 ? '' : 's'}${parts ? ` (${parts})` : ''}`;
}
