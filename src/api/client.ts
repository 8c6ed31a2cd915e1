/**
 * @module A typed client of the Testbay HTTP API, used by the CLI, the control worker
 * (job records) and hosts (uploads). Errors carry the status and the server's message;
 * an unreachable server is its own error so the CLI can exit 4.
 */
import type { Readable } from 'node:stream';
import type { RetentionPolicy, RetentionReport, OpenJobRequest, TestCaseResult, JobRecord, ArtifactInfo, SubmissionSummary, SubmissionRecord, BatchVerdict } from './store/result-store.js';
import type { Progress } from '../domain/job-run.js';
import type { JobResult } from '../domain/outcome.js';
import type { SpecIssue } from '../domain/parse-spec.js';
import type { BatchRunView, JobView, SubmissionView } from '../domain/views.js';
import type { HostView } from '../workflows/scheduler-messages.js';
import type { Plan } from '../domain/plan.js';
import type { LateReport } from '../domain/batch-ledger.js';
import type { SessionInfo } from './routes/session.js';
import type { LabWithJobs } from './host-jobs.js';
import type { TaskFailureReport } from '../workers/task-failures.js';
import type { Comment, Label, ReviewItem } from './store/review-store.js';
import type { InvestigationView, ScenarioHistory } from './routes/scenarios.js';
import type { CommentPart } from '../domain/review.js';
import { parseJobId } from '../domain/ids.js';

/** A comment as the API answers it: its text split into text and bug-reference links. */
export type CommentView = Comment & { parts: CommentPart[] };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues: SpecIssue[] = [],
  ) {
    super(message);
  }
}

export class ApiUnreachable extends Error {}

export interface SubmitResponse {
  id: string;
  workflowId: string;
  jobs: { id: string; name: string }[];
}

export interface JobDetails extends JobView {
  kind: 'job';
  submissionId: string;
  tests: TestCaseResult[];
  artifacts: ArtifactInfo[];
  logBytes: number;
  /** its scenario's key */
  scenario?: string;
  /** bytes the host saved by optimising PNG screenshots losslessly */
  savedBytes?: number;
  /** the job's chain workflow in Temporal Web once it has a host, else its submission's */
  temporalWebUrl: string;
  /** the submission's workflow in Temporal Web */
  submissionWebUrl: string;
}

/** What GET /jobs/:id answers for a batch run (`<submission>.<n>`). */
export interface BatchRunDetails extends BatchRunView {
  kind: 'batch-run';
  submissionId: string;
  /** the batch run's workflow in Temporal Web */
  temporalWebUrl: string;
  submissionWebUrl: string;
}

const LEASE_HEADER = 'x-testbay-lease';

/**
 * `TESTBAY_URL` as a list: `http://a:8780,http://b:8780` (API servers on one database), each
 * without its trailing slash. Throws on an entry that is not an http(s) URL.
 */
export function parseApiUrls(text: string): string[] {
  const urls = text.split(',').map((u) => u.trim().replace(/\/+$/, '')).filter(Boolean);
  if (urls.length === 0) throw new Error('TESTBAY_URL: no URL given');
  for (const u of urls) {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      // not a URL
    }
    if (!ok) throw new Error(`TESTBAY_URL: "${u}" is not an http(s) URL (several are separated by commas: http://a:8780,http://b:8780)`);
  }
  return urls;
}

/** Connection errors where the request never reached a server (safe to send anywhere again). */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string; cause?: unknown } };
  return e.cause?.code ?? e.code;
}

/** A request body: bytes (sent again as they are on failover) or a stream made afresh for each try. */
type Body = string | Buffer | (() => Readable);

interface RequestInit2 {
  body?: Body;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  duplex?: 'half';
  /**
   * Sending it twice does no harm (GET, PUT, DELETE by default; a POST says so): after a
   * connection error it is sent to the next API server even if the first may have had it.
   * Otherwise only a request that never reached a server is (connection refused).
   */
  idempotent?: boolean;
}

export class TestbayClient {
  /** the API servers, in order of preference (TESTBAY_URL=http://a,http://b) */
  readonly urls: readonly string[];
  /** the server requests go to, until it fails */
  private current = 0;
  /** called when requests move to another API server (hosts log it) */
  onFailover?: (from: string, to: string, reason: string) => void;

  constructor(
    baseUrl: string | readonly string[],
    private readonly token: string,
  ) {
    this.urls = typeof baseUrl === 'string' ? parseApiUrls(baseUrl) : baseUrl.map((u) => u.replace(/\/+$/, ''));
    if (this.urls.length === 0) throw new Error('TestbayClient: no API URL');
  }

  /** The API server in use now. */
  get baseUrl(): string {
    return this.urls[this.current]!;
  }

  /** Moves on from `failed` to the next server (once, however many requests saw it fail). */
  private failover(failed: number, reason: string): void {
    if (this.urls.length < 2 || this.current !== failed) return;
    this.current = (failed + 1) % this.urls.length;
    this.onFailover?.(this.urls[failed]!, this.urls[this.current]!, reason);
  }

  private async request(method: string, path: string, init: RequestInit2 = {}): Promise<Response> {
    const idempotent = init.idempotent ?? method !== 'POST';
    let lastError = '';
    for (let attempt = 0; attempt < this.urls.length; attempt++) {
      const at = this.current;
      const base = this.urls[at]!;
      let res: Response;
      try {
        const body = typeof init.body === 'function' ? init.body() : init.body;
        // Node's fetch takes streams and Buffers as bodies; its RequestInit type lags behind.
        const request = {
          method,
          ...(body === undefined ? {} : { body }),
          ...(init.signal ? { signal: init.signal } : {}),
          ...(init.duplex ? { duplex: init.duplex } : {}),
          headers: { authorization: `Bearer ${this.token}`, ...init.headers },
        } as unknown as RequestInit;
        res = await fetch(`${base}/api/v1${path}`, request);
      } catch (err) {
        if (init.signal?.aborted) throw err;
        const reason = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
        lastError = `cannot reach the Testbay API at ${base}: ${reason}`;
        this.failover(at, reason);
        const resend = idempotent || NOT_SENT.has(errorCode(err) ?? '');
        if (!resend) {
          throw new ApiUnreachable(
            this.urls.length > 1 ? `${lastError} (the request may have reached it, so it is not sent to ${this.baseUrl}: look whether it was done before trying again)` : lastError,
          );
        }
        continue;
      }
      if (!res.ok) {
        const text = await res.text();
        let message = text || res.statusText;
        let issues: SpecIssue[] = [];
        try {
          const body = JSON.parse(text) as { error?: string; issues?: SpecIssue[] };
          message = body.error ?? message;
          issues = body.issues ?? [];
        } catch {
          // not JSON: keep the text
        }
        throw new ApiError(res.status, message, issues);
      }
      return res;
    }
    throw new ApiUnreachable(this.urls.length > 1 ? `cannot reach any Testbay API server (${this.urls.join(', ')}); last: ${lastError}` : lastError);
  }

  private async json<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, idempotent?: boolean): Promise<T> {
    const res = await this.request(method, path, {
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(idempotent === undefined ? {} : { idempotent }),
    });
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /** A JSON call of any endpoint: modules with endpoints of their own wrap it (notify-client.ts). */
  call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.json(method, path, body);
  }

  // Testers and CI
  submit(spec: string | object): Promise<SubmitResponse> {
    if (typeof spec === 'string') {
      return this.request('POST', '/submissions', { body: spec, headers: { 'content-type': 'application/yaml' } }).then((r) => r.json() as Promise<SubmitResponse>);
    }
    return this.json('POST', '/submissions', spec);
  }
  submission(id: string): Promise<SubmissionView> {
    return this.json('GET', `/submissions/${encodeURIComponent(id)}`);
  }
  submissions(query: Record<string, string> = {}): Promise<{ submissions: SubmissionSummary[] }> {
    const qs = new URLSearchParams(query).toString();
    return this.json('GET', `/submissions${qs ? `?${qs}` : ''}`);
  }
  /** Marks a submission to keep beyond retention (or, with false, unmarks it). */
  keep(id: string, keep = true): Promise<{ id: string; keep: boolean }> {
    return this.json('POST', `/submissions/${encodeURIComponent(id)}/keep`, { keep }, {}, true);
  }
  cancelSubmission(id: string, reason?: string): Promise<unknown> {
    return this.json('POST', `/submissions/${encodeURIComponent(id)}/cancel`, reason ? { reason } : {}, {}, true);
  }
  /** A job or a batch of a batch run; a batch run's id is refused (see jobOrBatchRun). */
  async job(id: string): Promise<JobDetails> {
    const d = await this.jobOrBatchRun(id);
    if (d.kind === 'batch-run') throw new ApiError(400, `${id} is a batch run, not a job`);
    return d;
  }
  jobOrBatchRun(id: string): Promise<JobDetails | BatchRunDetails> {
    return this.json('GET', `/jobs/${encodeURIComponent(id)}`);
  }
  restartJob(id: string, options: { children?: boolean } = {}): Promise<SubmitResponse> {
    return this.json('POST', `/jobs/${encodeURIComponent(id)}/restart`, options);
  }
  cancelJob(id: string, reason?: string): Promise<unknown> {
    return this.json('POST', `/jobs/${encodeURIComponent(id)}/cancel`, reason ? { reason } : {}, {}, true);
  }

  // Review: scenario history, investigation, comments, labels, the review list, rerun what failed
  scenarioHistory(key: string, limit = 20): Promise<ScenarioHistory> {
    return this.json('GET', `/scenarios/${encodeURIComponent(key)}/history?limit=${limit}`);
  }
  investigation(jobId: string): Promise<InvestigationView> {
    return this.json('GET', `/jobs/${encodeURIComponent(jobId)}/investigation`);
  }
  /** Comments on a job (`<submission>.<n>`) or a submission. */
  comments(id: string): Promise<{ comments: CommentView[] }> {
    return this.json('GET', `/${parseJobId(id).kind === 'submission' ? 'submissions' : 'jobs'}/${encodeURIComponent(id)}/comments`);
  }
  comment(id: string, text: string): Promise<CommentView> {
    return this.json('POST', `/${parseJobId(id).kind === 'submission' ? 'submissions' : 'jobs'}/${encodeURIComponent(id)}/comments`, { text });
  }
  labels(jobId: string): Promise<{ labels: Label[] }> {
    return this.json('GET', `/jobs/${encodeURIComponent(jobId)}/labels`);
  }
  label(jobId: string, label: string, on = true): Promise<{ labels: Label[] }> {
    return on ? this.json('POST', `/jobs/${encodeURIComponent(jobId)}/labels`, { label }) : this.json('DELETE', `/jobs/${encodeURIComponent(jobId)}/labels/${encodeURIComponent(label)}`);
  }
  needsReview(limit = 50): Promise<{ jobs: ReviewItem[] }> {
    return this.json('GET', `/review?limit=${limit}`);
  }
  /** Reruns the failed, aborted and skipped jobs of a finished submission as a new one. */
  rerunFailed(submissionId: string): Promise<SubmitResponse> {
    return this.json('POST', `/submissions/${encodeURIComponent(submissionId)}/restart`, { failed: true });
  }
  async log(id: string): Promise<string> {
    return (await this.request('GET', `/jobs/${encodeURIComponent(id)}/log`)).text();
  }
  /** A part of a job's log (`start`, `end`, `tail` as the API takes them), with where it begins and the whole log's size. */
  async logPart(id: string, query: { start?: number; end?: number; tail?: number }): Promise<{ text: string; start: number; end: number; size: number }> {
    const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
    const res = await this.request('GET', `/jobs/${encodeURIComponent(id)}/log?${params.toString()}`);
    const header = (name: string) => Number(res.headers.get(name) ?? NaN);
    return { text: await res.text(), start: header('x-log-start'), end: header('x-log-end'), size: header('x-log-size') };
  }
  /**
   * Follows a job's log (SSE) and calls onText for every chunk until the job ends. With
   * several API servers, a stream that breaks goes on from the next one where it stopped
   * (the server sends whole UTF-8 characters, so the bytes of the text received so far are
   * where to start again).
   */
  async followLog(id: string, onText: (text: string) => void, signal?: AbortSignal): Promise<JobResult | null> {
    let received = 0;
    for (let failures = 0; ; ) {
      const at = this.current;
      try {
        const res = await this.request('GET', `/jobs/${encodeURIComponent(id)}/log?follow=1${received > 0 ? `&start=${received}` : ''}`, signal ? { signal } : {});
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          for (let sep = buffer.indexOf('\n\n'); sep !== -1; sep = buffer.indexOf('\n\n')) {
            const event = buffer.slice(0, sep);
            buffer = buffer.slice(sep + 2);
            const type = /^event: (.*)$/m.exec(event)?.[1];
            const data = /^data: (.*)$/m.exec(event)?.[1];
            if (data === undefined) continue;
            if (type === 'log') {
              const text = JSON.parse(data) as string;
              received += Buffer.byteLength(text);
              failures = 0;
              onText(text);
            }
            if (type === 'end') return (JSON.parse(data) as { result: JobResult | null }).result;
          }
        }
        // Ended without its end event: the server went away mid-stream.
        if (this.urls.length < 2) return null;
        this.failover(at, 'the log stream ended early');
      } catch (err) {
        if (signal?.aborted || this.urls.length < 2 || !(err instanceof ApiUnreachable || err instanceof TypeError)) throw err;
        this.failover(at, err.message);
      }
      if (++failures > 2 * this.urls.length) throw new ApiUnreachable(`lost the log of ${id} on every Testbay API server (${this.urls.join(', ')})`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  async artifact(id: string, name: string): Promise<Buffer> {
    const res = await this.request('GET', `/jobs/${encodeURIComponent(id)}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`);
    return Buffer.from(await res.arrayBuffer());
  }

  // Operators
  hosts(): Promise<LabWithJobs> {
    return this.json('GET', '/hosts');
  }
  setMaintenance(hostId: string, on: boolean): Promise<HostView> {
    return this.json('POST', `/hosts/${encodeURIComponent(hostId)}/maintenance`, { on }, {}, true);
  }
  clearBroken(hostId: string): Promise<HostView> {
    return this.json('POST', `/hosts/${encodeURIComponent(hostId)}/clear-broken`, {}, {}, true);
  }
  markBroken(hostId: string, reason?: string): Promise<HostView | null> {
    return this.json('POST', `/hosts/${encodeURIComponent(hostId)}/mark-broken`, reason ? { reason } : {}, {}, true);
  }
  removeHost(hostId: string): Promise<void> {
    return this.json('DELETE', `/hosts/${encodeURIComponent(hostId)}`);
  }

  // Dashboards and scripts
  artifacts(jobId: string): Promise<{ artifacts: ArtifactInfo[] }> {
    return this.json('GET', `/jobs/${encodeURIComponent(jobId)}/artifacts`);
  }
  plan(submissionId: string): Promise<Plan> {
    return this.json('GET', `/submissions/${encodeURIComponent(submissionId)}/plan`);
  }
  me(): Promise<SessionInfo> {
    return this.json('GET', '/me');
  }

  // Hosts (token role `host`; every call carries the lease token)
  appendLog(jobId: string, lease: string, offset: number, data: Buffer): Promise<{ size: number }> {
    return this.request('POST', `/jobs/${encodeURIComponent(jobId)}/log?offset=${offset}`, {
      body: data,
      headers: { 'content-type': 'application/octet-stream', [LEASE_HEADER]: lease },
      // at an offset: bytes the server has already are not stored twice
      idempotent: true,
    }).then((r) => r.json() as Promise<{ size: number }>);
  }
  reportProgress(jobId: string, lease: string, body: { state?: 'scheduled' | 'provisioning' | 'running' | 'uploading'; progress?: Progress; savedBytes?: number; testCode?: { commit: string; log?: string[] } }): Promise<unknown> {
    return this.json('POST', `/jobs/${encodeURIComponent(jobId)}/progress`, body, { [LEASE_HEADER]: lease }, true);
  }
  putTests(jobId: string, lease: string, tests: TestCaseResult[]): Promise<unknown> {
    return this.json('PUT', `/jobs/${encodeURIComponent(jobId)}/tests`, { tests }, { [LEASE_HEADER]: lease });
  }
  /** `body`: the bytes, or a function that opens them afresh (so a failover can send them again). */
  putArtifact(jobId: string, lease: string, name: string, body: Buffer | (() => Readable), sizeBytes: number): Promise<ArtifactInfo> {
    return this.request('PUT', `/jobs/${encodeURIComponent(jobId)}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`, {
      body,
      duplex: 'half',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(sizeBytes), [LEASE_HEADER]: lease },
    }).then((r) => r.json() as Promise<ArtifactInfo>);
  }

  // Control worker (token role `control`)
  /** Opens a job record (control token); the answer carries its upload token, sealed. */
  openJob(input: OpenJobRequest): Promise<Omit<JobRecord, 'leaseToken'> & { uploadToken: string }> {
    return this.json('PUT', `/internal/jobs/${encodeURIComponent(input.jobId)}`, input);
  }
  finishJob(jobId: string, leaseId: string, result: JobResult): Promise<Omit<JobRecord, 'leaseToken'>> {
    return this.json('POST', `/internal/jobs/${encodeURIComponent(jobId)}/finish`, { leaseId, result }, {}, true);
  }
  putBatchTests(submissionId: string, runName: string, tests: string[]): Promise<void> {
    return this.json('PUT', `/internal/batch-runs/${encodeURIComponent(submissionId)}/${encodeURIComponent(runName)}/tests`, { tests });
  }
  getBatchTests(submissionId: string, runName: string, offset: number, limit: number): Promise<string[]> {
    return this.json<{ tests: string[] }>('GET', `/internal/batch-runs/${encodeURIComponent(submissionId)}/${encodeURIComponent(runName)}/tests?offset=${offset}&limit=${limit}`).then((r) => r.tests);
  }
  putBatchVerdicts(runJobId: string, offset: number, verdicts: BatchVerdict[]): Promise<void> {
    return this.json('PUT', `/internal/jobs/${encodeURIComponent(runJobId)}/verdicts`, { offset, verdicts });
  }
  addLateReport(runJobId: string, report: LateReport): Promise<void> {
    return this.json('POST', `/internal/jobs/${encodeURIComponent(runJobId)}/late`, report, {}, true);
  }
  verdicts(runJobId: string): Promise<{ verdicts: BatchVerdict[] }> {
    return this.json('GET', `/jobs/${encodeURIComponent(runJobId)}/verdicts`);
  }
  registerSubmission(record: SubmissionRecord): Promise<void> {
    return this.json('PUT', `/internal/submissions/${encodeURIComponent(record.id)}/record`, record);
  }
  /** A control worker's failed workflow tasks, for the hosts page (control token). */
  reportTaskFailures(report: TaskFailureReport): Promise<void> {
    return this.json('PUT', `/internal/control-workers/${encodeURIComponent(report.worker)}/task-failures`, report);
  }
  /** Ends the running submissions whose workflow is gone (control token). */
  reconcile(): Promise<{ ended: string[] }> {
    return this.json('POST', '/internal/reconcile', {}, {}, true);
  }
  recordSubmission(view: SubmissionView): Promise<void> {
    return this.json('PUT', `/internal/submissions/${encodeURIComponent(view.id)}`, view);
  }
  /** One retention pass (the control worker's, for the testbay-retention schedule). */
  applyRetention(): Promise<RetentionReport & { policy: RetentionPolicy }> {
    return this.json('POST', '/internal/retention', {}, {}, true);
  }
}
