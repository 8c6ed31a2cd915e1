/**
 * @module Configuration: one zod schema over the environment, parsed once per entry point
 * (`testbay dev|server|control|host` and the CLI) and passed down typed. Bad values fail
 * at start-up with the variable's name and the reason.
 */
import type { CheckEvery } from './domain/health-check.js';
import { compact } from './domain/compact.js';
import { DEFAULT_MAX_EXTEND_MS } from './domain/deadline.js';
import { RESERVE_DEFAULTS } from './domain/reservation.js';
import { DEFAULT_PARTNER_WAIT_MS } from './domain/partners.js';
import path from 'node:path';
import { z } from 'zod';
import type { Job } from './domain/job.js';
import { DEFAULT_RUN_CONFIG, type RunConfig } from './domain/job-run.js';
import { validateSpec } from './domain/parse-spec.js';
// The defaults the workflows fall back on are the environment's defaults too: written once, there.
import { DEFAULT_SCHEDULER_CONFIG } from './workflows/scheduler-messages.js';
import { DEFAULT_CLIENT_TIMEOUTS } from './api/client.js';

const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().positive();

export const DEFAULT_PORTS = { api: 8780, temporal: 7733, temporalUi: 8733, controlMetrics: 8781 } as const;

const schema = z
  .object({
    TESTBAY_DATA_DIR: z.string().min(1).default('.testbay'),
    TESTBAY_PORT: port.default(DEFAULT_PORTS.api),
    TESTBAY_BIND: z.string().min(1).default('127.0.0.1'),
    // One API server, or several on one database: http://a:8780,http://b:8780 (clients fail over between them).
    TESTBAY_URL: z
      .string()
      .min(1)
      .refine(
        (v) =>
          v
            .split(',')
            .map((u) => u.trim())
            .filter(Boolean)
            .every((u) => z.url({ protocol: /^https?$/ }).safeParse(u).success),
        'http(s) URLs, several separated by commas: http://a:8780,http://b:8780',
      )
      .optional(),
    // How long a client (CLI, hosts, control worker) waits on an API server that does not move before it takes the next.
    TESTBAY_API_TIMEOUT_MS: ms.default(DEFAULT_CLIENT_TIMEOUTS.requestTimeoutMs),
    TESTBAY_API_FOLLOW_IDLE_MS: ms.default(DEFAULT_CLIENT_TIMEOUTS.followIdleMs),
    // The longest one barrier or receive call waits in the API before it answers "waiting" (the caller calls again).
    TESTBAY_PARTNER_WAIT_MS: ms.default(DEFAULT_PARTNER_WAIT_MS),
    TESTBAY_TOKEN: z.string().min(1).optional(),
    TESTBAY_TOKENS: z.string().min(1).optional(),
    TESTBAY_HOST_TOKEN: z.string().min(1).optional(),
    TESTBAY_CONTROL_TOKEN: z.string().min(1).optional(),
    TESTBAY_HOST_TOKEN_FILE: z.string().min(1).optional(),
    TESTBAY_CONTROL_TOKEN_FILE: z.string().min(1).optional(),
    TESTBAY_CONTROL_METRICS_PORT: port.optional(),
    TESTBAY_PAYLOAD_KEY_FILE: z.string().min(1).optional(),
    TESTBAY_WORKFLOW_BUNDLE: z.string().min(1).optional(),
    TESTBAY_TEMPORAL_PORT: port.default(DEFAULT_PORTS.temporal),
    TESTBAY_TEMPORAL_UI_PORT: port.default(DEFAULT_PORTS.temporalUi),
    TESTBAY_TEMPORAL_BIN: z.string().min(1).optional(),
    TESTBAY_TEMPORAL_WEB_URL: z.url().optional(),
    TEMPORAL_ADDRESS: z.string().min(1).optional(),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_TLS_CERT: z.string().min(1).optional(),
    TEMPORAL_TLS_KEY: z.string().min(1).optional(),
    TEMPORAL_TLS_CA: z.string().min(1).optional(),
    TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
    TEMPORAL_API_KEY: z.string().min(1).optional(),
    TESTBAY_HEARTBEAT_TIMEOUT_MS: ms.default(DEFAULT_RUN_CONFIG.heartbeatTimeoutMs),
    TESTBAY_HEARTBEAT_THROTTLE_MS: ms.default(1_000),
    TESTBAY_HOST_PICKUP_TIMEOUT_MS: ms.default(DEFAULT_RUN_CONFIG.hostPickupTimeoutMs),
    TESTBAY_PRESENCE_TIMEOUT_MS: ms.optional(),
    TESTBAY_UPLOAD_TIMEOUT_MS: ms.default(DEFAULT_RUN_CONFIG.uploadTimeoutMs),
    TESTBAY_BROKEN_AFTER_ABORTS: z.coerce.number().int().min(1).default(DEFAULT_SCHEDULER_CONFIG.brokenAfterAborts),
    TESTBAY_MAX_RETRIES_CAP: z.coerce.number().int().min(0).max(100).default(DEFAULT_RUN_CONFIG.maxRetriesCap),
    TESTBAY_MAX_RESERVE_MS: ms.default(RESERVE_DEFAULTS.maxReserveMs),
    TESTBAY_MAX_LOAN_MS: ms.default(RESERVE_DEFAULTS.maxLoanMs),
    TESTBAY_BATCH_SHARD_TESTS: z.coerce.number().int().min(10).max(20_000).default(DEFAULT_RUN_CONFIG.batchShardTests),
    TESTBAY_SCHEDULER_MAX_HISTORY: z.coerce.number().int().min(100).default(DEFAULT_SCHEDULER_CONFIG.maxHistoryEvents),
    TESTBAY_LEASE_CHECK_MS: z.coerce.number().int().min(1_000).default(DEFAULT_SCHEDULER_CONFIG.leaseCheckMs),
    TESTBAY_RECONCILE_EVERY_MS: z.coerce.number().int().min(1_000).default(30_000),
    TESTBAY_CONTROL_WORKFLOW_CACHE: z.coerce.number().int().min(10).default(10_000),
    TESTBAY_KILL_GRACE_MS: ms.default(10_000),
    TESTBAY_HOOK_TIMEOUT_MS: ms.default(10 * 60_000),
    TESTBAY_MAX_EXTEND_MS: ms.default(DEFAULT_MAX_EXTEND_MS),
    // Hosts must send a running job's log at least every 2 s.
    TESTBAY_LOG_FLUSH_MS: ms
      .max(2_000, "at most 2000: hosts upload a running job's log at least every 2 s")
      .default(1_000),
    TESTBAY_SHUTDOWN_DEADLINE_MS: ms.default(5 * 60_000),
    TESTBAY_MAX_ARTIFACT_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(1024 * 1024 * 1024),
    TESTBAY_MAX_STREAMS_PER_TOKEN: z.coerce.number().int().min(1).default(20),
    TESTBAY_MAX_CONNECTIONS: z.coerce.number().int().min(10).default(1_000),
    TESTBAY_HEADERS_TIMEOUT_MS: ms.default(15_000),
    TESTBAY_SUBMISSIONS_PER_MINUTE: z.coerce.number().int().min(1).default(600),
    TESTBAY_MAX_JOB_ARTIFACTS: z.coerce.number().int().min(1).default(10_000),
    TESTBAY_MAX_JOB_ARTIFACT_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(20 * 1024 ** 3),
    TESTBAY_CACHE_DIR: z.string().min(1).optional(),
    TESTBAY_ASSET_CACHE_MAX_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(50 * 1024 ** 3),
    TESTBAY_MIN_FREE_BYTES: z.coerce
      .number()
      .int()
      .min(0)
      .default(1024 ** 3),
    TESTBAY_GIT_TIMEOUT_MS: ms.default(10 * 60_000),
    TESTBAY_RUNNER_USER: z.string().min(1).optional(),
    TESTBAY_MAX_LOG_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(128 * 1024 ** 2),
    TESTBAY_MAX_RESULTS_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(64 * 1024 ** 2),
    TESTBAY_MAX_TESTCASES: z.coerce
      .number()
      .int()
      .min(1)
      .max(100_000, 'at most 100000 (what the API takes for one job)')
      .default(100_000),
    TESTBAY_ASSETS_ALLOW: z.string().min(1).optional(),
    TESTBAY_MAX_ASSET_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(20 * 1024 ** 3),
    TESTBAY_MAX_JOB_ASSET_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(40 * 1024 ** 3),
    TESTBAY_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    TESTBAY_LOG_FORMAT: z.enum(['text', 'json']).default('text'),
    TESTBAY_HEALTH_CHECKS: z.string().min(1).optional(),
    TESTBAY_DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\/./, 'a PostgreSQL URL: postgres://user:password@host:5432/database')
      .optional(),
    TESTBAY_DATABASE_POOL: z.coerce.number().int().min(2).max(1_000).default(10),
    TESTBAY_OBJECT_STORE: z
      .string()
      .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^\s]*)?$/, 's3://bucket or s3://bucket/prefix')
      .optional(),
    TESTBAY_S3_ENDPOINT: z.url().optional(),
    AWS_REGION: z.string().min(1).optional(),
    AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
    AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    TESTBAY_RETENTION_LOGS_DAYS: z.coerce.number().positive().default(30),
    TESTBAY_RETENTION_RECORDS_DAYS: z.coerce.number().positive().default(365),
    TESTBAY_BUG_REFS: z.string().min(2).optional(),
    TESTBAY_CARRY_OVER: z.enum(['0', '1']).default('1'),
    TESTBAY_PUBLIC_BADGES: z.enum(['0', '1']).default('0'),
    // Webhooks and commit statuses (src/api/notify): a receiver's time to answer, the retry policy of a delivery.
    TESTBAY_WEBHOOK_TIMEOUT_MS: ms.default(10_000),
    TESTBAY_WEBHOOK_RETRY_INITIAL_MS: ms.default(10_000),
    TESTBAY_WEBHOOK_RETRY_MAX_MS: ms.default(60 * 60_000),
    TESTBAY_WEBHOOK_RETRY_FOR_MS: ms.default(24 * 60 * 60_000),
    TESTBAY_WEBHOOK_HOST_POLL_MS: ms.default(5_000),
    TESTBAY_WEBHOOK_REDRIVE_MS: ms.default(60_000),
    TESTBAY_COMMIT_STATUS_URL: z.url().optional(),
    TESTBAY_COMMIT_STATUS_TOKEN: z.string().min(1).optional(),
    TESTBAY_COMMIT_STATUS_CONTEXT: z.string().min(1).max(100).default('testbay'),
  })
  .transform((e, ctx) => {
    const run: RunConfig = {
      heartbeatTimeoutMs: e.TESTBAY_HEARTBEAT_TIMEOUT_MS,
      hostPickupTimeoutMs: e.TESTBAY_HOST_PICKUP_TIMEOUT_MS,
      uploadTimeoutMs: e.TESTBAY_UPLOAD_TIMEOUT_MS,
      maxRetriesCap: e.TESTBAY_MAX_RETRIES_CAP,
      brokenAfterAborts: e.TESTBAY_BROKEN_AFTER_ABORTS,
      batchShardTests: e.TESTBAY_BATCH_SHARD_TESTS,
      maxExtendMs: e.TESTBAY_MAX_EXTEND_MS,
      maxReserveMs: e.TESTBAY_MAX_RESERVE_MS,
      maxLoanMs: e.TESTBAY_MAX_LOAN_MS,
    };
    const healthChecks = parseHealthChecks(e.TESTBAY_HEALTH_CHECKS, (message) =>
      ctx.addIssue({ code: 'custom', path: ['TESTBAY_HEALTH_CHECKS'], message }),
    );
    const dataDir = path.resolve(e.TESTBAY_DATA_DIR);
    const s3 = e.TESTBAY_OBJECT_STORE ? /^s3:\/\/([^/]+)\/?(.*)$/.exec(e.TESTBAY_OBJECT_STORE) : null;
    return {
      dataDir,
      /** the result store: PostgreSQL (or the embedded PGlite in the data dir), and an object store */
      store: {
        databaseUrl: e.TESTBAY_DATABASE_URL,
        poolSize: e.TESTBAY_DATABASE_POOL,
        embeddedDir: path.join(dataDir, 'db'),
        objects: s3
          ? {
              kind: 's3' as const,
              url: e.TESTBAY_OBJECT_STORE!,
              bucket: s3[1]!,
              prefix: s3[2]!.replace(/\/+$/, ''),
              endpoint: e.TESTBAY_S3_ENDPOINT,
              region: e.AWS_REGION ?? 'us-east-1',
              credentials:
                e.AWS_ACCESS_KEY_ID && e.AWS_SECRET_ACCESS_KEY
                  ? { accessKeyId: e.AWS_ACCESS_KEY_ID, secretAccessKey: e.AWS_SECRET_ACCESS_KEY }
                  : undefined,
            }
          : { kind: 'folder' as const, dir: path.join(dataDir, 'objects') },
        retention: { logsDays: e.TESTBAY_RETENTION_LOGS_DAYS, recordsDays: e.TESTBAY_RETENTION_RECORDS_DAYS },
      },
      api: {
        port: e.TESTBAY_PORT,
        bind: e.TESTBAY_BIND,
        url: e.TESTBAY_URL ?? `http://127.0.0.1:${e.TESTBAY_PORT}`,
        /** the clients' limits without progress (src/api/stall-timeout.ts): a request's, and a followed log's between bytes */
        clientTimeouts: { requestTimeoutMs: e.TESTBAY_API_TIMEOUT_MS, followIdleMs: e.TESTBAY_API_FOLLOW_IDLE_MS },
        tokensJson: e.TESTBAY_TOKENS,
        maxArtifactBytes: e.TESTBAY_MAX_ARTIFACT_BYTES,
        maxStreamsPerToken: e.TESTBAY_MAX_STREAMS_PER_TOKEN,
        maxConnections: e.TESTBAY_MAX_CONNECTIONS,
        headersTimeoutMs: e.TESTBAY_HEADERS_TIMEOUT_MS,
        submissionsPerMinute: e.TESTBAY_SUBMISSIONS_PER_MINUTE,
        jobArtifactLimits: { count: e.TESTBAY_MAX_JOB_ARTIFACTS, bytes: e.TESTBAY_MAX_JOB_ARTIFACT_BYTES },
        /** the long-poll window of barrier and receive calls */
        partnerWaitMs: e.TESTBAY_PARTNER_WAIT_MS,
      },
      tokens: {
        client: e.TESTBAY_TOKEN,
        host: e.TESTBAY_HOST_TOKEN,
        control: e.TESTBAY_CONTROL_TOKEN,
        hostFile: e.TESTBAY_HOST_TOKEN_FILE,
        controlFile: e.TESTBAY_CONTROL_TOKEN_FILE,
      },
      /** the key secrets and upload tokens are sealed with (the API and hosts; or TESTBAY_PAYLOAD_KEY itself) */
      payloadKeyFile:
        e.TESTBAY_PAYLOAD_KEY_FILE === undefined
          ? path.join(dataDir, 'payload.key')
          : path.resolve(e.TESTBAY_PAYLOAD_KEY_FILE),
      /** a pre-built workflow bundle for the control worker (otherwise it bundles at start) */
      workflowBundle: e.TESTBAY_WORKFLOW_BUNDLE,
      /** workflows a control worker keeps cached (each a few tens of kB) */
      controlWorkflowCache: e.TESTBAY_CONTROL_WORKFLOW_CACHE,
      /** where the control worker serves its own Prometheus metrics (GET /metrics); none when unset */
      controlMetricsPort: e.TESTBAY_CONTROL_METRICS_PORT,
      /** how often the reconcile schedule looks for submissions whose workflow is gone */
      reconcileEveryMs: e.TESTBAY_RECONCILE_EVERY_MS,
      temporal: {
        address: e.TEMPORAL_ADDRESS ?? `127.0.0.1:${e.TESTBAY_TEMPORAL_PORT}`,
        namespace: e.TEMPORAL_NAMESPACE,
        port: e.TESTBAY_TEMPORAL_PORT,
        uiPort: e.TESTBAY_TEMPORAL_UI_PORT,
        webUrl: e.TESTBAY_TEMPORAL_WEB_URL ?? `http://127.0.0.1:${e.TESTBAY_TEMPORAL_UI_PORT}`,
        bin: e.TESTBAY_TEMPORAL_BIN,
        tls:
          e.TEMPORAL_TLS_CERT || e.TEMPORAL_TLS_CA
            ? {
                cert: e.TEMPORAL_TLS_CERT,
                key: e.TEMPORAL_TLS_KEY,
                ca: e.TEMPORAL_TLS_CA,
                serverName: e.TEMPORAL_TLS_SERVER_NAME,
              }
            : undefined,
        apiKey: e.TEMPORAL_API_KEY,
      },
      run,
      scheduler: {
        presenceTimeoutMs: e.TESTBAY_PRESENCE_TIMEOUT_MS ?? e.TESTBAY_HEARTBEAT_TIMEOUT_MS,
        presencePickupMs: e.TESTBAY_HOST_PICKUP_TIMEOUT_MS,
        brokenAfterAborts: e.TESTBAY_BROKEN_AFTER_ABORTS,
        maxHistoryEvents: e.TESTBAY_SCHEDULER_MAX_HISTORY,
        leaseCheckMs: e.TESTBAY_LEASE_CHECK_MS,
        healthChecks: healthChecks.checks,
        healthCheckEvery: healthChecks.every,
        runConfig: run,
      },
      host: {
        heartbeatThrottleMs: e.TESTBAY_HEARTBEAT_THROTTLE_MS,
        killGraceMs: e.TESTBAY_KILL_GRACE_MS,
        /** how long a host's recoverCommand or powerCommand may run (a provisionCommand has provisionTimeoutMs) */
        hookTimeoutMs: e.TESTBAY_HOOK_TIMEOUT_MS,
        logFlushMs: e.TESTBAY_LOG_FLUSH_MS,
        shutdownDeadlineMs: e.TESTBAY_SHUTDOWN_DEADLINE_MS,
        cacheDir: e.TESTBAY_CACHE_DIR === undefined ? undefined : path.resolve(e.TESTBAY_CACHE_DIR),
        assetCacheMaxBytes: e.TESTBAY_ASSET_CACHE_MAX_BYTES,
        minFreeBytes: e.TESTBAY_MIN_FREE_BYTES,
        gitTimeoutMs: e.TESTBAY_GIT_TIMEOUT_MS,
        /** the user runners run as (a name or uid); a host config's runnerUser overrides it */
        runnerUser: e.TESTBAY_RUNNER_USER,
        /** a job's log is cut here, with a marker line */
        maxLogBytes: e.TESTBAY_MAX_LOG_BYTES,
        /** JUnit and TAP files of one job together; above it the job is aborted results-too-large */
        maxResultsBytes: e.TESTBAY_MAX_RESULTS_BYTES,
        maxTestcases: e.TESTBAY_MAX_TESTCASES,
        assets: {
          /** URL patterns assets may come from (a host config's assets.allow overrides them) */
          allow: e.TESTBAY_ASSETS_ALLOW?.split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          maxBytes: e.TESTBAY_MAX_ASSET_BYTES,
          maxJobBytes: e.TESTBAY_MAX_JOB_ASSET_BYTES,
        },
      },
      /** review of results: bug-reference patterns in comments, the carry-over rule, badges without a token */
      review: {
        bugRefs: parseBugRefs(e.TESTBAY_BUG_REFS, (message) =>
          ctx.addIssue({ code: 'custom', path: ['TESTBAY_BUG_REFS'], message }),
        ),
        carryOver: e.TESTBAY_CARRY_OVER === '1',
        publicBadges: e.TESTBAY_PUBLIC_BADGES === '1',
      },
      logLevel: e.TESTBAY_LOG_LEVEL,
      logFormat: e.TESTBAY_LOG_FORMAT,
      notify: {
        /** how deliveries are made: by the delivery workflow, its activities and the API */
        delivery: {
          timeoutMs: e.TESTBAY_WEBHOOK_TIMEOUT_MS,
          retryInitialMs: e.TESTBAY_WEBHOOK_RETRY_INITIAL_MS,
          retryMaxMs: e.TESTBAY_WEBHOOK_RETRY_MAX_MS,
          retryForMs: e.TESTBAY_WEBHOOK_RETRY_FOR_MS,
        },
        /** how often the API looks for newly broken hosts (only while someone subscribed to host.broken) */
        hostPollMs: e.TESTBAY_WEBHOOK_HOST_POLL_MS,
        /** how often the API restarts delivery queues left with pending deliveries (Temporal was down when they were enqueued) */
        redriveMs: e.TESTBAY_WEBHOOK_REDRIVE_MS,
        /** the commit-status API (GitHub: https://api.github.com; Gitea: https://gitea.example/api/v1); off when unset */
        commitStatus: {
          url: e.TESTBAY_COMMIT_STATUS_URL,
          token: e.TESTBAY_COMMIT_STATUS_TOKEN,
          context: e.TESTBAY_COMMIT_STATUS_CONTEXT,
        },
      },
    };
  });

export type Config = z.output<typeof schema>;

/** TESTBAY_BUG_REFS: a JSON object of prefix → URL base, `{"bsc#": "https://bugzilla.suse.com/show_bug.cgi?id="}`. */
function parseBugRefs(text: string | undefined, fail: (message: string) => void): Record<string, string> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail('must be a JSON object of prefix → URL, e.g. {"bsc#": "https://bugzilla.suse.com/show_bug.cgi?id="}');
    return {};
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('must be a JSON object of prefix → URL');
    return {};
  }
  const patterns: Record<string, string> = {};
  for (const [prefix, url] of Object.entries(value)) {
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,19}#$/.test(prefix))
      fail(`${prefix}: a prefix is letters (and digits, "_", "-") ending in "#", e.g. bsc#`);
    else if (typeof url !== 'string' || !/^https?:\/\/\S+$/.test(url)) fail(`${prefix}: the URL must be http(s)`);
    else patterns[prefix] = url;
  }
  return patterns;
}

/**
 * TESTBAY_HEALTH_CHECKS: `{"<worker class>": {job fields}}`, e.g.
 * `{"qemu_x86_64": {"runner": {"command": ["health-check"]}, "timeoutMs": 60000}}`.
 */
const checkEvery = z.object({
  everyMs: z.number().int().positive().optional(),
  everyJobs: z.number().int().positive().optional(),
});

function parseHealthChecks(
  text: string | undefined,
  fail: (message: string) => void,
): { checks: Record<string, Job>; every: Record<string, CheckEvery> } {
  const every: Record<string, CheckEvery> = {};
  if (text === undefined) return { checks: {}, every };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(`not JSON: ${(err as Error).message}`);
    return { checks: {}, every };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    fail('must be an object: worker class → health-check job');
    return { checks: {}, every };
  }
  const checks: Record<string, Job> = {};
  for (const [workerClass, fields] of Object.entries(raw)) {
    // everyMs and everyJobs say when a check is due; the rest is the job.
    const { everyMs, everyJobs, ...jobFields } = (fields ?? {}) as { everyMs?: unknown; everyJobs?: unknown };
    const when = checkEvery.safeParse({ everyMs, everyJobs });
    if (!when.success)
      fail(`${workerClass}: ${when.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    else if (when.data.everyMs !== undefined || when.data.everyJobs !== undefined)
      every[workerClass] = compact(when.data);
    const parsed = validateSpec({ jobs: [{ ...jobFields, name: 'health-check', workerClass }] });
    if (parsed.ok && parsed.submission.jobs[0]!.secrets)
      fail(
        `${workerClass}: secrets: a health check cannot have secrets (they would sit in the scheduler's configuration unsealed)`,
      );
    else if (parsed.ok) checks[workerClass] = parsed.submission.jobs[0]!;
    else fail(`${workerClass}: ${parsed.issues.map((i) => `${i.path.slice(2).join('.')}: ${i.message}`).join('; ')}`);
  }
  return { checks, every };
}

export class ConfigError extends Error {}

/** Parses the environment once; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** Where the embedded lab keeps what the CLI needs to find it (URL and tokens). */
export const labFile = (dataDir: string) => path.join(dataDir, 'lab.json');
export const tokensFile = (dataDir: string) => path.join(dataDir, 'tokens.json');
/** The embedded lab's one-time login code for the dashboard. */
export const loginCodeFile = (dataDir: string) => path.join(dataDir, 'login-code.json');
