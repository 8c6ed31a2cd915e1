/**
 * @module The lab as the API shows it: the scheduler's view of the hosts, each leased host
 * joined with the job on it now, from the result store's open job records (the scheduler
 * knows a lease and its recipe set; which job of the chain runs is the host's news).
 */
import { parseJobId, parseWorkflowId } from '../domain/ids.js';
import type { HostView, LabView } from '../workflows/scheduler-messages.js';
import type { OpenJob, ResultStore } from './store/result-store.js';
import type { WorkerTaskFailures } from './task-failure-reports.js';

export interface CurrentJob {
  id: string;
  name: string;
  submissionId: string;
  state: OpenJob['state'];
  startedAt?: string;
  progress?: OpenJob['progress'];
}

export interface HostWithJob extends HostView {
  /** the job on the host now: running (or provisioning, uploading), else the next one waiting its turn */
  currentJob?: CurrentJob;
}

export interface LabWithJobs extends LabView {
  hosts: HostWithJob[];
  /** control workers whose workflow tasks failed (a workflow may be stuck) */
  workflowTaskFailures?: WorkerTaskFailures[];
}

/** The submission a lease belongs to: recipe sets are `rs-<submission>-<n>`, batch runs `batch-<submission>-<n>`. */
export function submissionOfRequester(requester: string): string | undefined {
  const parsed = parseWorkflowId(requester);
  return parsed?.kind === 'recipe-set' || parsed?.kind === 'batch-run' ? parsed.submissionId : undefined;
}

const ACTIVE = new Set<OpenJob['state']>(['provisioning', 'running', 'uploading']);
const jobNumber = (id: string) => {
  const parsed = parseJobId(id);
  return parsed.kind === 'batch' ? [parsed.number, parsed.batch] : parsed.kind === 'job' ? [parsed.number] : [];
};
const byNumber = (a: OpenJob, b: OpenJob) => {
  const [x, y] = [jobNumber(a.id), jobNumber(b.id)];
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if ((x[i] ?? -1) !== (y[i] ?? -1)) return (x[i] ?? -1) - (y[i] ?? -1);
  return 0;
};

/** Picks the job on a host now from its open records: the active one, else the first waiting its turn. */
export function currentJobOf(host: HostView, open: readonly OpenJob[]): CurrentJob | undefined {
  if (!host.lease) return undefined;
  const submissionId = submissionOfRequester(host.lease.requester);
  const mine = open
    .filter((j) => j.hostId === host.id && (submissionId === undefined || j.submissionId === submissionId))
    .sort(byNumber);
  const job = mine.find((j) => ACTIVE.has(j.state)) ?? mine[0];
  if (!job) return undefined;
  return {
    id: job.id,
    name: job.name,
    submissionId: job.submissionId,
    state: job.state,
    ...(job.startedAt ? { startedAt: job.startedAt } : {}),
    ...(job.progress ? { progress: job.progress } : {}),
  };
}

export async function labWithJobs(lab: LabView, store: ResultStore): Promise<LabWithJobs> {
  const open = await store.listOpenJobs();
  return {
    ...lab,
    hosts: lab.hosts.map((h) => {
      const current = currentJobOf(h, open);
      return current ? { ...h, currentJob: current } : h;
    }),
  };
}
