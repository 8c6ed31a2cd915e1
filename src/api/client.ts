/**
 * @module A typed client of the Testbay HTTP API, used by the CLI, the control worker
 * (job records) and hosts (uploads). Errors carry the status and the server's message;
 * an unreachable server is its own error so the CLI can exit 4. A server that takes the
 * connection and then does not move (TESTBAY_API_TIMEOUT_MS without a byte either way) is
 * left like one that refuses it: see stall-timeout.ts for why that is a limit on no
 * progress, not on a request's whole duration.
 */
import type { JobExtension } from '../domain/deadline.js';
import type { Reservation } from '../domain/reservation.js';
import type { BarrierAnswer, ReceiveAnswer } from '../domain/partners.js';
import type { Readable } from 'node:stream';
import type {
  OpenJobRequest,
  TestCaseResult,
  JobRecord,
  ArtifactInfo,
  SubmissionRecord,
} from './store/result-store.js';
import type { StoredVerdict, VerdictList } from '../domain/wire/batch-runs.js';
import type { RetentionReport, SubmissionSummary } from '../domain/wire/submissions.js';
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
import { StallTimer, type StallTimeout } from './stall-timeout.js';
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
  /** extensions of its deadline while it ran (testbay extend, the runner's {"extendMs": …}) and their sum */
  extensions?: JobExtension[];
  extendedMs?: number;
  /** while it runs: its spec's timeoutMs, and when that stops it (ISO; its extensions included) */
  timeoutMs?: number;
  deadline?: string;
  /** the job's chain workflow in Temporal Web once it has a host, else its submission's */
  temporalWebUrl: string;
  /** the submission's workflow in Temporal Web */
  submissionWebUrl: string;
  /** set while the job's host is kept for a person after it */
  reservation?: Reservation;
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
  const urls = text
    .split(',')
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  if (urls.length === 0) throw new Error('TESTBAY_URL: no URL given');
  for (const u of urls) {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      // not a URL
    }
    if (!ok)
      throw new Error(
        `TESTBAY_URL: "${u}" is not an http(s) URL (several are separated by commas: http://a:8780,http://b:8780)`,
      );
  }
  return urls;
}

/** Connection errors where the request never reached a server (safe to send anywhere again). */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string; cause?: unknown } };
  return e.cause?.code ?? e.code;
}

/** A request body: bytes (sent again as they are on failover) or a stream made afresh for each try. */
type Body = string | Buffer | (() => Readable);

/** How long a request may go without progress, and a followed log without a byte (keep-alives included). */
export interface ClientTimeouts {
  /** no request bytes taken, no answer, no answer bytes for this long: the server is taken as hung */
  requestTimeoutMs: number;
  /** a followed log's stream with nothing for this long (the API sends a keep-alive every 15 s) */
  followIdleMs: number;
}

/** Defaults of TESTBAY_API_TIMEOUT_MS and TESTBAY_API_FOLLOW_IDLE_MS (config.ts takes them from here). */
export const DEFAULT_CLIENT_TIMEOUTS: ClientTimeouts = { requestTimeoutMs: 30_000, followIdleMs: 45_000 };

/**
 * Bodies from this size on go as a stream of slices of it (with their length), so that every
 * slice the connection takes counts as progress: a 4 MiB log chunk on a slow link is never
 * cut by the request timeout while its bytes keep going.
 */
const SLICE_BYTES = 64 * 1024;

interface RequestInit2 {
  body?: Body;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Sending it twice does no harm (GET, PUT, DELETE by default; a POST says so): after a
   * connection error or a timeout it is sent to the next API server even if the first may
   * have had it. Otherwise only a request that never reached a server is (connection refused).
   */
  idempotent?: boolean;
  /** this request's limit without progress, when the server's work takes longer than most (a retention pass) */
  timeoutMs?: number;
  /** once the answer's headers are in, its body may go this long without a byte (a followed log) */
  idleMs?: number;
}

/** Reads an answer (inside the request's try: a server that hangs or goes away mid-answer counts as failed). */
type Reader<T> = (res: Response, progress: () => void) => Promise<T>;

async function readBytes(res: Response, progress: () => void): Promise<Buffer> {
  const parts: Buffer[] = [];
  if (res.body) {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      progress();
      parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
  }
  return Buffer.concat(parts);
}
const readJson = async <T>(res: Response, progress: () => void): Promise<T> => {
  if (res.status === 204) return undefined as T;
  return JSON.parse((await readBytes(res, progress)).toString('utf8')) as T;
};
const readText = async (res: Response, progress: () => void): Promise<string> =>
  new TextDecoder().decode(await readBytes(res, progress));

/** The body as fetch takes it, with every part the connection pulls counted as progress. */
function sendable(
  body: Body | undefined,
  progress: () => void,
): { body?: string | Buffer | AsyncIterable<Uint8Array>; sizeBytes?: number } {
  if (body === undefined) return {};
  if (typeof body === 'function') return { body: counted(body(), progress) };
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  if (bytes.length < SLICE_BYTES) return { body };
  return { body: slices(bytes, progress), sizeBytes: bytes.length };
}

async function* counted(source: AsyncIterable<Uint8Array>, progress: () => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    progress();
    yield chunk;
  }
}

// eslint-disable-next-line @typescript-eslint/require-await -- fetch takes only an async iterable, and pulls it one slice at a time
async function* slices(bytes: Buffer, progress: () => void): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += SLICE_BYTES) {
    progress();
    yield bytes.subarray(at, at + SLICE_BYTES);
  }
}

function apiError(status: number, statusText: string, text: string): ApiError {
  let message = text || statusText;
  let issues: SpecIssue[] = [];
  try {
    const body = JSON.parse(text) as { error?: string; issues?: SpecIssue[] };
    message = body.error ?? message;
    issues = body.issues ?? [];
  } catch {
    // not JSON: keep the text
  }
  return new ApiError(status, message, issues);
}

/** What a followed log's stream gave before it ended: the job's result, or nothing when it broke off. */
type FollowEnd = { result: JobResult | null } | undefined;

export class TestbayClient {
  /** the API servers, in order of preference (TESTBAY_URL=http://a,http://b) */
  readonly urls: readonly string[];
  /** the server requests go to, until it fails */
  private current = 0;
  /** called when requests move to another API server (hosts log it) */
  onFailover?: (from: string, to: string, reason: string) => void;
  private readonly timeouts: ClientTimeouts;

  constructor(
    baseUrl: string | readonly string[],
    private readonly token: string,
    timeouts: Partial<ClientTimeouts> = {},
  ) {
    this.urls = typeof baseUrl === 'string' ? parseApiUrls(baseUrl) : baseUrl.map((u) => u.replace(/\/+$/, ''));
    if (this.urls.length === 0) throw new Error('TestbayClient: no API URL');
    this.timeouts = { ...DEFAULT_CLIENT_TIMEOUTS, ...timeouts };
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

  /**
   * Sends a request to the server in use and reads its answer with `read`; on a connection
   * error or a stall (see stall-timeout.ts) moves to the next server, and sends it there too
   * when that is safe. `path` may be a function: asked again for each try (a followed log
   * goes on from where it stopped).
   */
  private async request<T>(
    method: string,
    path: string | (() => string),
    init: RequestInit2,
    read: Reader<T>,
  ): Promise<T> {
    const idempotent = init.idempotent ?? method !== 'POST';
    const limitMs = init.timeoutMs ?? this.timeouts.requestTimeoutMs;
    let lastError = '';
    for (let attempt = 0; attempt < this.urls.length; attempt++) {
      const at = this.current;
      const base = this.urls[at]!;
      const stall = new StallTimer(limitMs);
      const progress = () => stall.progress();
      try {
        const { body, sizeBytes } = sendable(init.body, progress);
        // Node's fetch takes streams and Buffers as bodies; its RequestInit type lags behind.
        const request = {
          method,
          ...(body === undefined ? {} : { body }),
          ...(body !== undefined && typeof body === 'object' && !Buffer.isBuffer(body) ? { duplex: 'half' } : {}),
          signal: init.signal ? AbortSignal.any([init.signal, stall.signal]) : stall.signal,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(sizeBytes === undefined ? {} : { 'content-length': String(sizeBytes) }),
            ...init.headers,
          },
        } as unknown as RequestInit;
        const res = await fetch(`${base}/api/v1${typeof path === 'function' ? path() : path}`, request);
        progress();
        if (!res.ok) throw apiError(res.status, res.statusText, await readText(res, progress));
        if (init.idleMs !== undefined) stall.setLimit(init.idleMs);
        return await read(res, progress);
      } catch (err) {
        if (init.signal?.aborted || err instanceof ApiError) throw err;
        const timedOut = stall.timedOut;
        // fetch fails with a TypeError (its cause says why), and so does a body cut off mid-way
        if (!timedOut && !(err instanceof TypeError)) throw err;
        const reason = timedOut
          ? (stall.signal.reason as StallTimeout).message
          : ((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message);
        lastError = timedOut
          ? `the Testbay API at ${base} did not answer: ${reason}`
          : `cannot reach the Testbay API at ${base}: ${reason}`;
        this.failover(at, reason);
        // A request that timed out was sent (a hung server takes connections): it may have been done.
        const resend = idempotent || (!timedOut && NOT_SENT.has(errorCode(err) ?? ''));
        if (!resend) {
          const next = this.urls.length > 1 ? `, so it is not sent to ${this.baseUrl}` : ', so it is not sent again';
          throw new ApiUnreachable(
            this.urls.length > 1 || timedOut
              ? `${lastError} (the request may have reached it${next}: look whether it was done before trying again)`
              : lastError,
          );
        }
      } finally {
        stall.stop();
      }
    }
    throw new ApiUnreachable(
      this.urls.length > 1
        ? `cannot reach any Testbay API server (${this.urls.join(', ')}); last: ${lastError}`
        : lastError,
    );
  }

  private json<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    idempotent?: boolean,
    timeoutMs?: number,
  ): Promise<T> {
    const init: RequestInit2 = {
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(idempotent === undefined ? {} : { idempotent }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    };
    return this.request(method, path, init, readJson<T>);
  }

  /** A JSON call of any endpoint: modules with endpoints of their own wrap it (notify-client.ts). */
  call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.json(method, path, body);
  }

  // A runner and its partners (the client's token is the job token, TESTBAY_JOB_TOKEN)
  /** Arrives at a barrier and waits up to `waitMs` (the server may wait less) for where it stands. */
  partnerBarrier(jobId: string, barrier: string, waitMs: number): Promise<BarrierAnswer> {
    // Arriving again is harmless: safe to send to the next server after a timeout.
    return this.json(
      'POST',
      `/jobs/${encodeURIComponent(jobId)}/barriers/${encodeURIComponent(barrier)}`,
      { waitMs },
      {},
      true,
      waitMs + this.timeouts.requestTimeoutMs,
    );
  }

  partnerSend(jobId: string, key: string, value: string): Promise<{ key: string }> {
    return this.json('PUT', `/jobs/${encodeURIComponent(jobId)}/messages/${encodeURIComponent(key)}`, { value });
  }

  partnerReceive(jobId: string, key: string, waitMs: number, from?: string): Promise<ReceiveAnswer> {
    const query = new URLSearchParams({ waitMs: String(waitMs), ...(from !== undefined ? { from } : {}) });
    return this.json(
      'GET',
      `/jobs/${encodeURIComponent(jobId)}/messages/${encodeURIComponent(key)}?${query.toString()}`,
      undefined,
      {},
      true,
      waitMs + this.timeouts.requestTimeoutMs,
    );
  }

  // Testers and CI
  submit(spec: string | object): Promise<SubmitResponse> {
    if (typeof spec === 'string') {
      return this.request(
        'POST',
        '/submissions',
        { body: spec, headers: { 'content-type': 'application/yaml' } },
        readJson<SubmitResponse>,
      );
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
  /** Extends a running job's deadline by `byMs` (its submitter or an operate token). */
  extendJob(id: string, byMs: number): Promise<{ jobId: string; extendedMs: number; extensions: JobExtension[] }> {
    return this.json('POST', `/jobs/${encodeURIComponent(id)}/extend`, { byMs });
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
    return this.json(
      'GET',
      `/${parseJobId(id).kind === 'submission' ? 'submissions' : 'jobs'}/${encodeURIComponent(id)}/comments`,
    );
  }
  comment(id: string, text: string): Promise<CommentView> {
    return this.json(
      'POST',
      `/${parseJobId(id).kind === 'submission' ? 'submissions' : 'jobs'}/${encodeURIComponent(id)}/comments`,
      { text },
    );
  }
  labels(jobId: string): Promise<{ labels: Label[] }> {
    return this.json('GET', `/jobs/${encodeURIComponent(jobId)}/labels`);
  }
  label(jobId: string, label: string, on = true): Promise<{ labels: Label[] }> {
    return on
      ? this.json('POST', `/jobs/${encodeURIComponent(jobId)}/labels`, { label })
      : this.json('DELETE', `/jobs/${encodeURIComponent(jobId)}/labels/${encodeURIComponent(label)}`);
  }
  needsReview(limit = 50): Promise<{ jobs: ReviewItem[] }> {
    return this.json('GET', `/review?limit=${limit}`);
  }
  /** Reruns the failed, aborted and skipped jobs of a finished submission as a new one. */
  rerunFailed(submissionId: string): Promise<SubmitResponse> {
    return this.json('POST', `/submissions/${encodeURIComponent(submissionId)}/restart`, { failed: true });
  }
  log(id: string): Promise<string> {
    return this.request('GET', `/jobs/${encodeURIComponent(id)}/log`, {}, readText);
  }
  /** A part of a job's log (`start`, `end`, `tail` as the API takes them), with where it begins and the whole log's size. */
  logPart(
    id: string,
    query: { start?: number; end?: number; tail?: number },
  ): Promise<{ text: string; start: number; end: number; size: number }> {
    const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
    return this.request(
      'GET',
      `/jobs/${encodeURIComponent(id)}/log?${params.toString()}`,
      {},
      async (res, progress) => {
        const header = (name: string) => Number(res.headers.get(name) ?? NaN);
        return {
          text: await readText(res, progress),
          start: header('x-log-start'),
          end: header('x-log-end'),
          size: header('x-log-size'),
        };
      },
    );
  }
  /**
   * Follows a job's log (SSE) and calls onText for every chunk until the job ends. With
   * several API servers, a stream that breaks or goes silent (no keep-alive either) goes on
   * from the next one where it stopped: at the byte offset the server gave as the last log
   * event's id (its text may hold U+FFFD for bytes that were not UTF-8, so its own length
   * would not say).
   */
  async followLog(id: string, onText: (text: string) => void, signal?: AbortSignal): Promise<JobResult | null> {
    let received = 0;
    const path = () => `/jobs/${encodeURIComponent(id)}/log?follow=1${received > 0 ? `&start=${received}` : ''}`;
    for (let failures = 0; ;) {
      const at = this.current;
      try {
        const end = await this.request(
          'GET',
          path,
          { idleMs: this.timeouts.followIdleMs, ...(signal ? { signal } : {}) },
          async (res, progress): Promise<FollowEnd> => {
            const decoder = new TextDecoder();
            let buffer = '';
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
              progress();
              buffer += decoder.decode(chunk, { stream: true });
              for (let sep = buffer.indexOf('\n\n'); sep !== -1; sep = buffer.indexOf('\n\n')) {
                const event = buffer.slice(0, sep);
                buffer = buffer.slice(sep + 2);
                const type = /^event: (.*)$/m.exec(event)?.[1];
                const data = /^data: (.*)$/m.exec(event)?.[1];
                if (data === undefined) continue;
                if (type === 'log') {
                  const text = JSON.parse(data) as string;
                  // A server without ids sends whole UTF-8 characters: then the text's bytes say.
                  const offset = Number(/^id: (\d+)$/m.exec(event)?.[1] ?? NaN);
                  received = Number.isSafeInteger(offset) ? offset : received + Buffer.byteLength(text);
                  failures = 0;
                  onText(text);
                }
                if (type === 'end') return { result: (JSON.parse(data) as { result: JobResult | null }).result };
              }
            }
            return undefined;
          },
        );
        if (end) return end.result;
        // Ended without its end event: the server went away mid-stream.
        if (this.urls.length < 2) return null;
        this.failover(at, 'the log stream ended early');
      } catch (err) {
        // (request() has already moved on from a server that failed, and tried the others)
        if (signal?.aborted || this.urls.length < 2 || !(err instanceof ApiUnreachable)) throw err;
      }
      if (++failures > 2 * this.urls.length)
        throw new ApiUnreachable(`lost the log of ${id} on every Testbay API server (${this.urls.join(', ')})`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  artifact(id: string, name: string): Promise<Buffer> {
    return this.request(
      'GET',
      `/jobs/${encodeURIComponent(id)}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`,
      {},
      readBytes,
    );
  }

  // Operators
  hosts(): Promise<LabWithJobs> {
    return this.json('GET', '/hosts');
  }
  // Reservations: a job's host kept after it, or a host lent by hand
  extendReservation(target: { jobId: string } | { hostId: string }, byMs: number): Promise<Reservation> {
    return this.json(
      'POST',
      'jobId' in target
        ? `/jobs/${encodeURIComponent(target.jobId)}/reservation/extend`
        : `/hosts/${encodeURIComponent(target.hostId)}/reservation/extend`,
      { byMs },
    );
  }
  releaseReservation(target: { jobId: string } | { hostId: string }): Promise<Reservation> {
    return this.json(
      'POST',
      'jobId' in target
        ? `/jobs/${encodeURIComponent(target.jobId)}/reservation/release`
        : `/hosts/${encodeURIComponent(target.hostId)}/release`,
      {},
      {},
      true,
    );
  }
  reserveHost(hostId: string, forMs: number, reason?: string): Promise<Reservation> {
    return this.json('POST', `/hosts/${encodeURIComponent(hostId)}/reserve`, { forMs, ...(reason ? { reason } : {}) });
  }
  setPriority(jobId: string, priority: number): Promise<{ id: string; previous: number; priority: number }> {
    return this.json('PATCH', `/jobs/${encodeURIComponent(jobId)}`, { priority }, {}, true);
  }
  setMaintenance(hostId: string, on: boolean): Promise<HostView> {
    return this.json('POST', `/hosts/${encodeURIComponent(hostId)}/maintenance`, { on }, {}, true);
  }
  /** Runs the host's powerCommand with `on`, `off` or `cycle` (operate). */
  power(
    hostId: string,
    action: 'on' | 'off' | 'cycle',
  ): Promise<{
    hostId: string;
    action: string;
    ok: boolean;
    exitCode: number | null;
    output: string;
    summary: string;
  }> {
    return this.json('POST', `/hosts/${encodeURIComponent(hostId)}/power`, { action });
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
    return this.request(
      'POST',
      `/jobs/${encodeURIComponent(jobId)}/log?offset=${offset}`,
      {
        body: data,
        headers: { 'content-type': 'application/octet-stream', [LEASE_HEADER]: lease },
        // at an offset: bytes the server has already are not stored twice
        idempotent: true,
      },
      readJson<{ size: number }>,
    );
  }
  reportProgress(
    jobId: string,
    lease: string,
    body: {
      state?: 'scheduled' | 'provisioning' | 'running' | 'uploading';
      progress?: Progress;
      savedBytes?: number;
      testCode?: { commit: string; log?: string[] };
    },
  ): Promise<unknown> {
    return this.json('POST', `/jobs/${encodeURIComponent(jobId)}/progress`, body, { [LEASE_HEADER]: lease }, true);
  }
  /** The job's deadline extensions so far (the host, while its runner runs). */
  jobDeadline(jobId: string, lease: string): Promise<{ extendedMs: number }> {
    return this.json('GET', `/jobs/${encodeURIComponent(jobId)}/deadline`, undefined, { [LEASE_HEADER]: lease }, true);
  }
  /** The runner asked for more time (`{"extendMs": …}`). */
  extendDeadline(jobId: string, lease: string, byMs: number): Promise<{ extendedMs: number }> {
    return this.json('POST', `/jobs/${encodeURIComponent(jobId)}/deadline`, { byMs }, { [LEASE_HEADER]: lease });
  }
  putTests(jobId: string, lease: string, tests: TestCaseResult[]): Promise<unknown> {
    return this.json('PUT', `/jobs/${encodeURIComponent(jobId)}/tests`, { tests }, { [LEASE_HEADER]: lease });
  }
  /** `body`: the bytes, or a function that opens them afresh (so a failover can send them again). */
  putArtifact(
    jobId: string,
    lease: string,
    name: string,
    body: Buffer | (() => Readable),
    sizeBytes: number,
  ): Promise<ArtifactInfo> {
    return this.request(
      'PUT',
      `/jobs/${encodeURIComponent(jobId)}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`,
      {
        body,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(sizeBytes),
          [LEASE_HEADER]: lease,
        },
      },
      readJson<ArtifactInfo>,
    );
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
    return this.json(
      'PUT',
      `/internal/batch-runs/${encodeURIComponent(submissionId)}/${encodeURIComponent(runName)}/tests`,
      { tests },
    );
  }
  getBatchTests(submissionId: string, runName: string, offset: number, limit: number): Promise<string[]> {
    return this.json<{ tests: string[] }>(
      'GET',
      `/internal/batch-runs/${encodeURIComponent(submissionId)}/${encodeURIComponent(runName)}/tests?offset=${offset}&limit=${limit}`,
    ).then((r) => r.tests);
  }
  putBatchVerdicts(runJobId: string, offset: number, verdicts: readonly StoredVerdict[]): Promise<void> {
    return this.json('PUT', `/internal/jobs/${encodeURIComponent(runJobId)}/verdicts`, { offset, verdicts });
  }
  addLateReport(runJobId: string, report: LateReport): Promise<void> {
    return this.json('POST', `/internal/jobs/${encodeURIComponent(runJobId)}/late`, report, {}, true);
  }
  verdicts(runJobId: string): Promise<VerdictList> {
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
    // (it asks Temporal about every running submission; its activity has 2 minutes)
    return this.json('POST', '/internal/reconcile', {}, {}, true, Math.max(this.timeouts.requestTimeoutMs, 2 * 60_000));
  }
  recordSubmission(view: SubmissionView): Promise<void> {
    return this.json('PUT', `/internal/submissions/${encodeURIComponent(view.id)}`, view);
  }
  /** One retention pass (the control worker's, for the testbay-retention schedule). */
  applyRetention(): Promise<RetentionReport> {
    // The server answers when the pass is done: a big lab's takes minutes (its activity has an hour).
    return this.json(
      'POST',
      '/internal/retention',
      {},
      {},
      true,
      Math.max(this.timeouts.requestTimeoutMs, 60 * 60_000),
    );
  }
}
