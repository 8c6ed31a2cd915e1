/**
 * Reading Temporal for the benchmarks: workflows by visibility query, event names and
 * times, and one submission's workflows event by event (where its time goes).
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { ResultKey } from '../src/workflows/search-attributes.js';

export interface Closed {
  workflowId: string;
  runId: string;
  closeTime: number;
  status: string;
  historyLength: number;
  result?: string;
}

export async function listAll(client: Client, query: string): Promise<Closed[]> {
  const out: Closed[] = [];
  for await (const wf of client.workflow.list({ query })) {
    const result = wf.typedSearchAttributes.get(ResultKey);
    out.push({
      workflowId: wf.workflowId,
      runId: wf.runId,
      closeTime: wf.closeTime?.getTime() ?? NaN,
      status: wf.status.name,
      historyLength: wf.historyLength,
      ...(result !== undefined ? { result } : {}),
    });
  }
  return out;
}

export function eventTypeName(t: unknown): string {
  if (typeof t === 'string') return t;
  // protobufjs enums map numbers back to names through their prototype
  return (proto.temporal.api.enums.v1.EventType as unknown as Record<number, string>)[Number(t)] ?? String(t);
}

export const eventTime = (e: proto.temporal.api.history.v1.IHistoryEvent) =>
  Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/** The first payload of a signal's or activity's input, as JSON. */
export const firstPayload = (p: proto.temporal.api.common.v1.IPayloads | null | undefined): unknown => {
  const data = p?.payloads?.[0]?.data;
  return data ? JSON.parse(Buffer.from(data).toString('utf8')) : undefined;
};

/**
 * The scheduler's turnaround, fed its history events in order: for each host, a release it
 * received → its next grant of that host (ms, in `turnaround`).
 */
export class GrantTurnaround {
  readonly turnaround: number[] = [];
  private readonly releasedAt = new Map<string, number>();

  observe(e: proto.temporal.api.history.v1.IHistoryEvent, t = eventTime(e)): void {
    const got = e.workflowExecutionSignaledEventAttributes;
    if (got?.signalName === 'releaseLease')
      this.releasedAt.set((firstPayload(got.input) as { hostId: string }).hostId, t);
    const sent = e.signalExternalWorkflowExecutionInitiatedEventAttributes;
    if (sent?.signalName !== 'leaseGranted') return;
    for (const { hostId } of (firstPayload(sent.input) as { leases: { hostId: string }[] }).leases) {
      const r = this.releasedAt.get(hostId);
      if (r !== undefined) this.turnaround.push(t - r);
      this.releasedAt.delete(hostId);
    }
  }
}

export interface TimelineRow {
  /** epoch ms */
  t: number;
  /** the workflow's kind, from its id (sub, rs, chain, …) */
  who: string;
  /** lower-case event type without EVENT_TYPE_, or `runner-start` */
  type: string;
  /** activity type, signal or marker name, when the event has one */
  name: string;
  /** for workflow_task_completed: ms it waited for a worker and ms it ran */
  waitedMs?: number;
  ranMs?: number;
}

/** One submission's workflows, event by event, in time order (with the runner's `start` stamp when known). */
export async function timeline(client: Client, submissionId: string, runnerStart?: number): Promise<TimelineRow[]> {
  const ids = (await listAll(client, `TestbaySubmission = "${submissionId}"`)).map((w) => w.workflowId);
  const rows: TimelineRow[] = [];
  if (runnerStart !== undefined) rows.push({ t: runnerStart, who: 'runner', type: 'runner-start', name: '' });
  for (const id of ids) {
    const who = id.split('-')[0]!;
    let scheduled = 0;
    let started = 0;
    for (const e of (await client.workflow.getHandle(id).fetchHistory()).events ?? []) {
      const t = eventTime(e);
      const type = eventTypeName(e.eventType)
        .replace(/^EVENT_TYPE_/, '')
        .toLowerCase();
      if (type === 'workflow_task_scheduled') scheduled = t;
      else if (type === 'workflow_task_started') started = t;
      else if (type === 'workflow_task_completed')
        rows.push({
          t,
          who,
          type,
          name: '',
          waitedMs: Math.round(started - scheduled),
          ranMs: Math.round(t - started),
        });
      else {
        const name =
          e.activityTaskScheduledEventAttributes?.activityType?.name ??
          e.workflowExecutionSignaledEventAttributes?.signalName ??
          e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName ??
          e.markerRecordedEventAttributes?.markerName ??
          '';
        rows.push({ t, who, type, name });
      }
    }
  }
  return rows.sort((a, b) => a.t - b.t);
}

export function printTimeline(rows: readonly TimelineRow[], since: number, title: string): void {
  console.log(`  ${title} (ms after the API accepted it):`);
  for (const r of rows) {
    const what =
      r.type === 'workflow_task_completed'
        ? `workflow task (waited ${r.waitedMs} ms for a worker, ran ${r.ranMs} ms)`
        : r.type === 'runner-start'
          ? 'printed `start`'
          : `${r.type}${r.name ? ` ${r.name}` : ''}`;
    console.log(`    ${String(Math.round(r.t - since)).padStart(7)}  ${r.who.padEnd(10)} ${what}`);
  }
}
