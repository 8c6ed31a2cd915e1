/**
 * @module The API described: an OpenAPI 3.1 document generated from the zod schemas (the
 * job spec from the domain, the responses and bodies from api-schemas.ts), served at
 * `/api/v1/openapi.json` with a plain HTML page at `/api/v1/docs`, and the job spec's
 * JSON Schema at `/api/v1/job-spec.schema.json` (also in the repo, for editors). None of
 * them needs a token: they describe the API, they hold no data.
 */
import { Router } from 'express';
import { z } from 'zod';
import { submissionSpec } from '../../domain/spec.js';
import { webhookInput } from '../../domain/webhooks.js';
import { DOCS_SECURITY_HEADERS } from '../untrusted-content.js';
import * as S from './api-schemas.js';
import * as R from './review-schemas.js';
import * as N from './notify-schemas.js';
import * as P from './partner-schemas.js';

type Permission = 'none' | 'read' | 'submit' | 'operate' | 'upload' | 'control' | 'job';

interface Param {
  name: string;
  in: 'path' | 'query' | 'header';
  description: string;
  required?: boolean;
  schema?: Record<string, unknown>;
}

interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  tag: string;
  summary: string;
  permission: Permission;
  params?: Param[];
  body?: { schema: SchemaName | 'JobSpec' | 'Bytes'; type?: string; description?: string };
  ok: { status: number; schema?: SchemaName; type?: string; description: string };
}

const ROLES: Record<Permission, string> = {
  none: 'no token',
  read: 'a submit or operate token',
  submit: 'a submit or operate token',
  operate: 'an operate token',
  upload: 'a host token, and the lease token of the job in x-testbay-lease',
  control: 'the control token',
  job: "the job's own job token (TESTBAY_JOB_TOKEN, which its runner gets), while the job runs; any other token is 403 (or 401)",
};

/** Named schemas, all generated from zod: the very ones the routes validate with. */
const SCHEMAS = {
  Accepted: S.accepted,
  Cancelling: S.cancelling,
  Submission: S.submission,
  SubmissionList: S.submissionList,
  Plan: S.plan,
  JobDetails: S.jobDetails,
  BatchRunDetails: S.batchRunDetails,
  JobOrBatchRun: S.jobOrBatchRun,
  LateReportBody: S.lateReportBody,
  TestList: S.testList,
  TestsBody: S.testsBody,
  ArtifactList: S.artifactList,
  Artifact: S.artifact,
  Verdicts: S.verdictList,
  Lab: S.lab,
  Host: S.host,
  Session: S.session,
  ReasonBody: S.reasonBody,
  MarkBrokenBody: S.markBrokenBody,
  RestartBody: S.restartBody,
  MaintenanceBody: S.maintenanceBody,
  KeepBody: S.keepBody,
  Kept: S.kept,
  RetentionReport: S.retentionReport,
  ProgressBody: S.progressBody,
  ExtendBody: S.extendBody,
  PowerBody: S.powerBody,
  OpenJobBody: S.openJobBody,
  FinishJobBody: S.finishJobBody,
  BatchTestsBody: S.batchTestsBody,
  VerdictsBody: S.verdictsBody,
  SubmissionRecordBody: S.submissionRecordBody,
  FinalViewBody: S.finalViewBody,
  TaskFailureReportBody: S.taskFailureReportBody,
  WebhookBody: webhookInput,
  Webhook: N.webhook,
  WebhookList: N.webhookList,
  WebhookCreated: N.webhookCreated,
  Delivery: N.delivery,
  DeliveryList: N.deliveryList,
  DeliveryResent: N.deliveryResent,
  DeliveryRequest: N.deliveryRequest,
  PendingDeliveries: N.pendingList,
  AttemptBody: N.attemptBody,
  GiveUpBody: N.giveUpBody,
  AuditList: N.auditList,
  Error: S.errorBody,
  ScenarioHistory: R.scenarioHistory,
  Investigation: R.investigation,
  CommentBody: R.commentBody,
  Comment: R.comment,
  CommentList: R.commentList,
  LabelBody: R.labelBody,
  LabelList: R.labelList,
  ReviewList: R.reviewList,
  RerunBody: R.rerunBody,
  BarrierBody: P.barrierBody,
  Reservation: S.reservation,
  LoanBody: S.loanBody,
  PriorityBody: S.priorityBody,
  PriorityChanged: S.priorityChanged,
  BarrierAnswer: P.barrierAnswer,
  SendBody: P.sendBody,
  Sent: P.sent,
  ReceiveAnswer: P.receiveAnswer,
} satisfies Record<string, z.ZodType>;
type SchemaName = keyof typeof SCHEMAS;

const jsonSchemaOf = (schema: z.ZodType) => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
};
const pathParam = (name: string, schema: z.ZodType, description: string): Param => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: jsonSchemaOf(schema),
});
/** The query parameters of a route, from the zod object it parses its query with. */
function queryParams(schema: z.ZodObject, descriptions: Record<string, string> = {}): Param[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const f = field as z.ZodType;
    const json = jsonSchemaOf(f);
    const optional = f.safeParse(undefined).success;
    return {
      name,
      in: 'query',
      required: !optional,
      description: descriptions[name] ?? f.description ?? name,
      schema: json,
    };
  });
}

const submissionId = pathParam('id', S.submissionIdParam, 'submission id');
const jobId = pathParam(
  'id',
  S.jobIdParam,
  'job id: <submission>.<n>, or a batch of a batch run: <submission>.<run>.<batch>',
);
const hostId = pathParam('id', S.hostIdParam, 'host id');
const webhookId = pathParam('id', N.webhookIdParam, 'webhook id');
const deliveryId = pathParam('id', N.deliveryIdParam, 'delivery id');
const runSubmission = pathParam('submissionId', S.submissionIdParam, 'submission id');
const runName = pathParam('runName', S.batchRunNameParam, 'the batch run name');
const lease: Param = {
  name: 'x-testbay-lease',
  in: 'header',
  required: true,
  description: 'the lease token the job was opened under',
};
const str = { type: 'string' };
const scenarioKey = pathParam(
  'key',
  R.scenarioKeyParam,
  "a scenario's key: <name>@<workerClass>[+KEY=value…] (settings the spec names in scenarioKeys), and /<test> for one test of a batch run; percent-encode '/' as %2F",
);
const label = pathParam('label', R.labelParam, 'a label');

/** Every endpoint under /api/v1, in the order people meet them. */
export const OPERATIONS: Operation[] = [
  {
    method: 'post',
    path: '/submissions',
    tag: 'submissions',
    summary: 'Submit a job spec (JSON, or YAML with content-type application/yaml)',
    permission: 'submit',
    body: { schema: 'JobSpec', type: 'application/json', description: 'also accepted as application/yaml' },
    ok: { status: 201, schema: 'Accepted', description: 'accepted: the submission id, its workflow id and job ids' },
  },
  {
    method: 'get',
    path: '/submissions',
    tag: 'submissions',
    summary: 'Recent submissions, newest first',
    permission: 'read',
    params: queryParams(S.listQuery),
    ok: { status: 200, schema: 'SubmissionList', description: 'summaries' },
  },
  {
    method: 'get',
    path: '/submissions/{id}',
    tag: 'submissions',
    summary:
      "A submission's jobs: state, result (kind, cause, reason), host, attempt, lineage, waiting reason, progress; its batch runs",
    permission: 'read',
    params: [submissionId],
    ok: { status: 200, schema: 'Submission', description: 'the live view' },
  },
  {
    method: 'get',
    path: '/submissions/{id}/plan',
    tag: 'submissions',
    summary: 'The plan: jobs with their dependencies, chains and recipe sets (the dependency graph)',
    permission: 'read',
    params: [submissionId],
    ok: { status: 200, schema: 'Plan', description: 'the plan' },
  },
  {
    method: 'post',
    path: '/submissions/{id}/keep',
    tag: 'submissions',
    summary:
      'Keep a submission (its records, logs and artifacts) beyond retention until unmarked, or unmark it (keep: false)',
    permission: 'submit',
    params: [submissionId],
    body: { schema: 'KeepBody' },
    ok: { status: 200, schema: 'Kept', description: 'whether it is kept now' },
  },
  {
    method: 'post',
    path: '/submissions/{id}/cancel',
    tag: 'submissions',
    summary: 'Cancel a submission',
    permission: 'submit',
    params: [submissionId],
    body: { schema: 'ReasonBody' },
    ok: {
      status: 202,
      schema: 'Cancelling',
      description: 'cancelling (or 200: its workflow was gone, so it was ended as aborted)',
    },
  },
  {
    method: 'get',
    path: '/jobs/{id}',
    tag: 'jobs',
    summary:
      'One job (or one batch of a batch run) with its tests, artifacts and Temporal Web links (kind job); a batch run (id <submission>.<n>) with its progress, notes and batches out now (kind batch-run)',
    permission: 'read',
    params: [jobId],
    ok: { status: 200, schema: 'JobOrBatchRun', description: 'the job or batch run' },
  },
  {
    method: 'post',
    path: '/jobs/{id}/extend',
    tag: 'jobs',
    summary:
      "Extend a running job's deadline (its submitter or operate; TESTBAY_MAX_EXTEND_MS in all: 400 past it, 409 once the job ended)",
    permission: 'submit',
    params: [jobId],
    body: { schema: 'ExtendBody' },
    ok: { status: 200, description: '{"jobId", "extendedMs", "extensions": [{byMs, by, at}]}' },
  },
  {
    method: 'post',
    path: '/jobs/{id}/cancel',
    tag: 'jobs',
    summary: "Cancel a job's whole chain (or a batch run)",
    permission: 'submit',
    params: [jobId],
    body: { schema: 'ReasonBody' },
    ok: {
      status: 202,
      schema: 'Cancelling',
      description: 'cancelling (or 200: its workflow was gone, so it was ended as aborted)',
    },
  },
  {
    method: 'post',
    path: '/jobs/{id}/restart',
    tag: 'jobs',
    summary:
      'Re-run a finished job (with its chain ancestors and, unless children is false, its dependants) as a new submission; a finished batch run reruns its failed and lost tests',
    permission: 'submit',
    params: [jobId],
    body: { schema: 'RestartBody' },
    ok: { status: 201, schema: 'Accepted', description: 'the new submission' },
  },
  {
    method: 'get',
    path: '/jobs/{id}/log',
    tag: 'jobs',
    summary:
      "A job's (or a batch's) log, whole or a byte range (`start`, `end`, or its last `tail` bytes from a line start; the headers `x-log-start`, `x-log-end` and `x-log-size` say which part of how much); with follow=1 Server-Sent Events: `start` `{start, size}`, `log` chunks from there (each with the byte offset it ends at as its `id`: `start` there to go on), then `end` with the result",
    permission: 'read',
    params: [jobId, ...queryParams(S.logQuery)],
    ok: { status: 200, type: 'text/plain', description: 'the log (or the part asked for) so far, or an event stream' },
  },
  {
    method: 'get',
    path: '/jobs/{id}/verdicts',
    tag: 'jobs',
    summary: "A batch run's verdicts (id <submission>.<n> of the run): exactly one per test, with its attempts",
    permission: 'read',
    params: [jobId],
    ok: { status: 200, schema: 'Verdicts', description: 'verdicts' },
  },
  {
    method: 'get',
    path: '/jobs/{id}/tests',
    tag: 'jobs',
    summary: 'Per-test results',
    permission: 'read',
    params: [jobId],
    ok: { status: 200, schema: 'TestList', description: 'tests' },
  },
  {
    method: 'get',
    path: '/jobs/{id}/artifacts',
    tag: 'jobs',
    summary: 'Artifacts of a job',
    permission: 'read',
    params: [jobId],
    ok: { status: 200, schema: 'ArtifactList', description: 'artifacts' },
  },
  {
    method: 'get',
    path: '/jobs/{id}/artifacts/{name}',
    tag: 'jobs',
    summary:
      'One artifact; name may contain slashes. Raster images and plain text come inline, anything else as a download (attachment); always nosniff and a sandbox CSP',
    permission: 'read',
    params: [jobId, { name: 'name', in: 'path', required: true, description: 'artifact path', schema: str }],
    ok: { status: 200, type: 'application/octet-stream', description: 'the file' },
  },
  {
    method: 'get',
    path: '/scenarios/{key}/history',
    tag: 'review',
    summary:
      "A scenario's last runs (result, host, when, test code commit, submission), newest first, with its last good run and the first failed run since; 404 for a scenario with no run on record",
    permission: 'read',
    params: [scenarioKey, ...queryParams(R.historyQuery)],
    ok: { status: 200, schema: 'ScenarioHistory', description: 'the history' },
  },
  {
    method: 'get',
    path: '/scenarios/{key}/badge.svg',
    tag: 'review',
    summary:
      "A status badge of a scenario's latest result (SVG); readable without a token when the server runs with TESTBAY_PUBLIC_BADGES=1",
    permission: 'read',
    params: [scenarioKey],
    ok: { status: 200, type: 'image/svg+xml', description: 'the badge' },
  },
  {
    method: 'get',
    path: '/jobs/{id}/investigation',
    tag: 'review',
    summary:
      "What changed since the last passed run of the job's scenario: settings, runner argv, test code (repository, ref, commit, git log between the commits), assets, host and capabilities, tests that newly fail, newly pass, appear or disappear; or why there is no good run",
    permission: 'read',
    params: [jobId],
    ok: { status: 200, schema: 'Investigation', description: 'the comparison' },
  },
  {
    method: 'get',
    path: '/jobs/{id}/comments',
    tag: 'review',
    summary: 'Comments on a job, oldest first, each with its text split into text and bug-reference links',
    permission: 'read',
    params: [jobId],
    ok: { status: 200, schema: 'CommentList', description: 'comments' },
  },
  {
    method: 'post',
    path: '/jobs/{id}/comments',
    tag: 'review',
    summary: "Comment on a job (the author is the token's name); text, never HTML; a body over 100 kB is 413",
    permission: 'submit',
    params: [jobId],
    body: { schema: 'CommentBody' },
    ok: { status: 201, schema: 'Comment', description: 'the comment' },
  },
  {
    method: 'get',
    path: '/submissions/{id}/comments',
    tag: 'review',
    summary: 'Comments on a submission, oldest first',
    permission: 'read',
    params: [submissionId],
    ok: { status: 200, schema: 'CommentList', description: 'comments' },
  },
  {
    method: 'post',
    path: '/submissions/{id}/comments',
    tag: 'review',
    summary: 'Comment on a submission',
    permission: 'submit',
    params: [submissionId],
    body: { schema: 'CommentBody' },
    ok: { status: 201, schema: 'Comment', description: 'the comment' },
  },
  {
    method: 'get',
    path: '/jobs/{id}/labels',
    tag: 'review',
    summary: "A job's labels (flaky, infra, needs-bug, …)",
    permission: 'read',
    params: [jobId],
    ok: { status: 200, schema: 'LabelList', description: 'labels' },
  },
  {
    method: 'post',
    path: '/jobs/{id}/labels',
    tag: 'review',
    summary: 'Label a job',
    permission: 'submit',
    params: [jobId],
    body: { schema: 'LabelBody' },
    ok: { status: 200, schema: 'LabelList', description: 'its labels now' },
  },
  {
    method: 'delete',
    path: '/jobs/{id}/labels/{label}',
    tag: 'review',
    summary: 'Take a label off a job',
    permission: 'submit',
    params: [jobId, label],
    ok: { status: 200, schema: 'LabelList', description: 'its labels now' },
  },
  {
    method: 'get',
    path: '/review',
    tag: 'review',
    summary: 'Needs review: failed jobs without a comment, newest first',
    permission: 'read',
    params: queryParams(R.reviewQuery),
    ok: { status: 200, schema: 'ReviewList', description: 'the jobs' },
  },
  {
    method: 'post',
    path: '/submissions/{id}/restart',
    tag: 'review',
    summary:
      'Rerun what failed: every failed, aborted and skipped job of a finished submission as one new submission (with the chain before each and its parallel partners; startAfter parents that passed are not rerun)',
    permission: 'submit',
    params: [submissionId],
    body: { schema: 'RerunBody' },
    ok: { status: 201, schema: 'Accepted', description: 'the new submission' },
  },
  {
    method: 'get',
    path: '/hosts',
    tag: 'hosts',
    summary: 'Hosts (state, lease, the job running on each, reasons) and the lease queue, from the scheduler',
    permission: 'read',
    ok: { status: 200, schema: 'Lab', description: 'the lab' },
  },
  {
    method: 'post',
    path: '/hosts/{id}/maintenance',
    tag: 'hosts',
    summary: 'Take a host out of scheduling (on) or back (off)',
    permission: 'operate',
    params: [hostId],
    body: { schema: 'MaintenanceBody' },
    ok: { status: 200, schema: 'Host', description: 'the host' },
  },
  {
    method: 'post',
    path: '/hosts/{id}/power',
    tag: 'hosts',
    summary:
      "Run the host config's powerCommand with on, off or cycle (409: it has none; 503: the host is not running)",
    permission: 'operate',
    params: [hostId],
    body: { schema: 'PowerBody' },
    ok: { status: 200, description: '{"hostId", "action", "ok", "exitCode", "output", "summary"}' },
  },
  {
    method: 'post',
    path: '/hosts/{id}/clear-broken',
    tag: 'hosts',
    summary: 'Put a broken host back into scheduling',
    permission: 'operate',
    params: [hostId],
    ok: { status: 200, schema: 'Host', description: 'the host' },
  },
  {
    method: 'post',
    path: '/hosts/{id}/mark-broken',
    tag: 'hosts',
    summary: 'Mark a host broken',
    permission: 'operate',
    params: [hostId],
    body: { schema: 'MarkBrokenBody' },
    ok: { status: 200, schema: 'Host', description: 'the host' },
  },
  {
    method: 'post',
    path: '/hosts/{id}/reserve',
    tag: 'reservations',
    summary:
      'Lend a host for forMs (`testbay reserve HOST --for 2h`): an operate token any host without a lease (up to TESTBAY_MAX_RESERVE_MS), a submit token an idle one (up to TESTBAY_MAX_LOAN_MS)',
    permission: 'submit',
    params: [hostId],
    body: { schema: 'LoanBody' },
    ok: { status: 201, schema: 'Reservation', description: 'the reservation: how to connect, until when' },
  },
  {
    method: 'post',
    path: '/hosts/{id}/reservation/extend',
    tag: 'reservations',
    summary: "Extend the host's reservation by byMs, within its cap (its holder or an operate token)",
    permission: 'submit',
    params: [hostId],
    body: { schema: 'ExtendBody' },
    ok: { status: 200, schema: 'Reservation', description: 'the reservation, with its new end' },
  },
  {
    method: 'post',
    path: '/hosts/{id}/release',
    tag: 'reservations',
    summary:
      "End the host's reservation now: its end command runs, the job's dir is pruned, the host goes back to the pool",
    permission: 'submit',
    params: [hostId],
    ok: { status: 200, schema: 'Reservation', description: 'the reservation that ends' },
  },
  {
    method: 'post',
    path: '/jobs/{id}/reservation/extend',
    tag: 'reservations',
    summary:
      "Extend the reservation of the job's host by byMs, within TESTBAY_MAX_RESERVE_MS (`testbay extend JOB_ID --by 2h`)",
    permission: 'submit',
    params: [jobId],
    body: { schema: 'ExtendBody' },
    ok: { status: 200, schema: 'Reservation', description: 'the reservation, with its new end' },
  },
  {
    method: 'post',
    path: '/jobs/{id}/reservation/release',
    tag: 'reservations',
    summary: "End the reservation of the job's host now (`testbay release JOB_ID`)",
    permission: 'submit',
    params: [jobId],
    ok: { status: 200, schema: 'Reservation', description: 'the reservation that ends' },
  },
  {
    method: 'patch',
    path: '/jobs/{id}',
    tag: 'jobs',
    summary:
      "Change a queued job's priority (lower runs first): its submitter may lower it, raising needs an operate token (`testbay priority JOB_ID N`)",
    permission: 'submit',
    params: [jobId],
    body: { schema: 'PriorityBody' },
    ok: { status: 200, schema: 'PriorityChanged', description: 'the previous and the new priority' },
  },
  {
    method: 'delete',
    path: '/hosts/{id}',
    tag: 'hosts',
    summary: 'Remove a host from the lab',
    permission: 'operate',
    params: [hostId],
    ok: { status: 204, description: 'removed' },
  },
  {
    method: 'post',
    path: '/webhooks',
    tag: 'webhooks',
    summary:
      'Subscribe an http(s) URL to events (submission.done, job.done, host.broken), narrowed by a filter (name, result, host, workerClass); deliveries are POSTed as JSON signed with X-Testbay-Signature: sha256=<hex HMAC of the body>, retried with backoff for a day, in event order',
    permission: 'operate',
    body: { schema: 'WebhookBody' },
    ok: { status: 201, schema: 'WebhookCreated', description: 'the subscription and its secret (shown once)' },
  },
  {
    method: 'get',
    path: '/webhooks',
    tag: 'webhooks',
    summary: 'Webhook subscriptions (without their secrets)',
    permission: 'operate',
    ok: { status: 200, schema: 'WebhookList', description: 'subscriptions' },
  },
  {
    method: 'get',
    path: '/webhooks/{id}',
    tag: 'webhooks',
    summary: 'One subscription',
    permission: 'operate',
    params: [webhookId],
    ok: { status: 200, schema: 'Webhook', description: 'the subscription' },
  },
  {
    method: 'delete',
    path: '/webhooks/{id}',
    tag: 'webhooks',
    summary: 'Delete a subscription; its deliveries not made yet are cancelled, its log stays',
    permission: 'operate',
    params: [webhookId],
    ok: { status: 204, description: 'deleted' },
  },
  {
    method: 'get',
    path: '/deliveries',
    tag: 'webhooks',
    summary:
      'The delivery log, newest first: webhook deliveries and commit statuses, with every attempt (status code, time, error)',
    permission: 'operate',
    params: queryParams(N.deliveriesQuery),
    ok: { status: 200, schema: 'DeliveryList', description: 'deliveries' },
  },
  {
    method: 'post',
    path: '/deliveries/{id}/resend',
    tag: 'webhooks',
    summary: 'Send a delivery again (same event id and body, a new delivery id), behind what its queue holds',
    permission: 'operate',
    params: [deliveryId],
    ok: { status: 201, schema: 'DeliveryResent', description: 'the new delivery' },
  },
  {
    method: 'get',
    path: '/audit',
    tag: 'audit',
    summary:
      'The audit log, newest first: who (token name), what, on which target, when, from which address (cancel, restart, keep, maintenance, mark-broken, clear-broken, remove-host, webhooks)',
    permission: 'operate',
    params: queryParams(N.auditQuery),
    ok: { status: 200, schema: 'AuditList', description: 'entries' },
  },
  {
    method: 'get',
    path: '/submissions/{id}/junit.xml',
    tag: 'submissions',
    summary: "A submission's results as JUnit XML (as testbay results --junit)",
    permission: 'read',
    params: [submissionId],
    ok: { status: 200, type: 'application/xml', description: 'JUnit XML' },
  },
  {
    method: 'get',
    path: '/events',
    tag: 'live',
    summary:
      'Server-Sent Events for dashboards: hints `job`, `submission`, `submissions`, `lab` (re-read what changed)',
    permission: 'read',
    params: queryParams(S.eventsQuery),
    ok: { status: 200, type: 'text/event-stream', description: 'events' },
  },
  {
    method: 'get',
    path: '/login',
    tag: 'live',
    summary:
      "The embedded lab's one-time login link (`testbay dev` prints it): a valid code, once and within 15 minutes, sends the browser to the dashboard with the operator token in the URL fragment",
    permission: 'none',
    params: [{ name: 'code', in: 'query', required: true, description: 'the one-time code', schema: str }],
    ok: { status: 303, description: 'to the dashboard (401 when the code is not valid)' },
  },
  {
    method: 'get',
    path: '/me',
    tag: 'live',
    summary: 'Who the token belongs to, and where Temporal Web is',
    permission: 'read',
    ok: { status: 200, schema: 'Session', description: 'the session' },
  },
  {
    method: 'get',
    path: '/health',
    tag: 'meta',
    summary: 'Liveness of the API process',
    permission: 'none',
    ok: { status: 200, description: '{"ok": true}' },
  },
  {
    method: 'get',
    path: '/openapi.json',
    tag: 'meta',
    summary: 'This document',
    permission: 'none',
    ok: { status: 200, description: 'OpenAPI 3.1' },
  },
  {
    method: 'get',
    path: '/job-spec.schema.json',
    tag: 'meta',
    summary: 'JSON Schema of the job spec (for editors validating YAML)',
    permission: 'none',
    ok: { status: 200, description: 'JSON Schema 2020-12' },
  },
  {
    method: 'get',
    path: '/docs',
    tag: 'meta',
    summary: 'This API as an HTML page',
    permission: 'none',
    ok: { status: 200, type: 'text/html', description: 'HTML' },
  },
  {
    method: 'post',
    path: '/jobs/{id}/log',
    tag: 'hosts (uploads)',
    summary: 'Append log bytes at an offset (idempotent)',
    permission: 'upload',
    params: [jobId, lease, ...queryParams(S.offsetQuery)],
    body: { schema: 'Bytes', type: 'application/octet-stream' },
    ok: { status: 200, description: '{"size": n}' },
  },
  {
    method: 'get',
    path: '/jobs/{id}/deadline',
    tag: 'hosts (uploads)',
    summary: "The job's deadline extensions so far (the host polls it while the runner runs)",
    permission: 'upload',
    params: [jobId, lease],
    ok: { status: 200, description: '{"extendedMs", "extensions"}' },
  },
  {
    method: 'post',
    path: '/jobs/{id}/deadline',
    tag: 'hosts (uploads)',
    summary: 'The runner asked for more time (a status line {"extendMs": …})',
    permission: 'upload',
    params: [jobId, lease],
    body: { schema: 'ExtendBody' },
    ok: { status: 200, description: '{"jobId", "extendedMs", "extensions"}' },
  },
  {
    method: 'post',
    path: '/jobs/{id}/progress',
    tag: 'hosts (uploads)',
    summary: 'Report state and progress',
    permission: 'upload',
    params: [jobId, lease],
    body: { schema: 'ProgressBody' },
    ok: { status: 200, description: '{"state": …}' },
  },
  {
    method: 'put',
    path: '/jobs/{id}/tests',
    tag: 'hosts (uploads)',
    summary: 'Store per-test results',
    permission: 'upload',
    params: [jobId, lease],
    body: { schema: 'TestsBody' },
    ok: { status: 200, description: '{"count": n}' },
  },
  {
    method: 'put',
    path: '/jobs/{id}/artifacts/{name}',
    tag: 'hosts (uploads)',
    summary: 'Store an artifact',
    permission: 'upload',
    params: [jobId, lease, { name: 'name', in: 'path', required: true, description: 'artifact path', schema: str }],
    body: { schema: 'Bytes', type: 'application/octet-stream' },
    ok: { status: 201, schema: 'Artifact', description: 'stored' },
  },
  {
    method: 'post',
    path: '/jobs/{id}/barriers/{name}',
    tag: 'partners (runners)',
    summary:
      "Arrive at a barrier of the job's recipe set and wait (long-poll, up to waitMs) until every partner reached it: `reached`, `waiting` (call again), or `partner-ended` (a partner that did not arrive has ended: it never will be reached). The CLI: `testbay barrier NAME`",
    permission: 'job',
    params: [jobId, pathParam('name', P.barrierParams.shape.name, 'the barrier: letters, digits, ".", "_", "-"')],
    body: { schema: 'BarrierBody' },
    ok: { status: 200, schema: 'BarrierAnswer', description: 'where the barrier stands' },
  },
  {
    method: 'put',
    path: '/jobs/{id}/messages/{key}',
    tag: 'partners (runners)',
    summary:
      "Give the job's partners a value under a key (sending the same key again replaces it). The CLI: `testbay send KEY VALUE`",
    permission: 'job',
    params: [jobId, pathParam('key', P.messageParams.shape.key, 'the key: letters, digits, ".", "_", "-"')],
    body: { schema: 'SendBody' },
    ok: { status: 200, schema: 'Sent', description: 'kept' },
  },
  {
    method: 'get',
    path: '/jobs/{id}/messages/{key}',
    tag: 'partners (runners)',
    summary:
      'The value a partner (or the job `from`) sent under a key, waiting for it (long-poll, up to waitMs): `received`, `waiting` (call again), or `partner-ended` (every job it could come from ended without sending it). The CLI: `testbay receive KEY`',
    permission: 'job',
    params: [jobId, pathParam('key', P.messageParams.shape.key, 'the key'), ...queryParams(P.receiveQuery)],
    ok: { status: 200, schema: 'ReceiveAnswer', description: 'the value, or where it stands' },
  },
  {
    method: 'put',
    path: '/internal/jobs/{id}',
    tag: 'control worker',
    summary: 'Open a job record under a lease',
    permission: 'control',
    params: [jobId],
    body: { schema: 'OpenJobBody' },
    ok: { status: 200, description: 'the job record' },
  },
  {
    method: 'post',
    path: '/internal/jobs/{id}/finish',
    tag: 'control worker',
    summary: 'Record a job result and seal the job',
    permission: 'control',
    params: [jobId],
    body: { schema: 'FinishJobBody' },
    ok: { status: 200, description: 'the job record' },
  },
  {
    method: 'post',
    path: '/internal/jobs/{id}/late',
    tag: 'control worker',
    summary:
      "Keep a fenced batch's results that came after its shard's verdicts were stored (history only; the first report of a batch wins)",
    permission: 'control',
    params: [jobId],
    body: { schema: 'LateReportBody' },
    ok: { status: 204, description: 'stored' },
  },
  {
    method: 'put',
    path: '/internal/jobs/{id}/verdicts',
    tag: 'control worker',
    summary: "Keep a slice of a batch run's verdicts (from offset) beyond the workflow",
    permission: 'control',
    params: [jobId],
    body: { schema: 'VerdictsBody' },
    ok: { status: 204, description: 'stored' },
  },
  {
    method: 'put',
    path: '/internal/batch-runs/{submissionId}/{runName}/tests',
    tag: 'control worker',
    summary: "Keep the test ids a batch run's testsCommand listed",
    permission: 'control',
    params: [runSubmission, runName],
    body: { schema: 'BatchTestsBody' },
    ok: { status: 204, description: 'stored' },
  },
  {
    method: 'get',
    path: '/internal/batch-runs/{submissionId}/{runName}/tests',
    tag: 'control worker',
    summary: "A slice of a batch run's test ids (listed, or given in the spec)",
    permission: 'control',
    params: [runSubmission, runName, ...queryParams(S.batchTestsQuery)],
    ok: { status: 200, schema: 'BatchTestsBody', description: 'the test ids' },
  },
  {
    method: 'put',
    path: '/internal/submissions/{id}/record',
    tag: 'control worker',
    summary:
      'Record a submission started by the scheduler (health checks): the API builds its plan again, and a body whose plan differs is 400',
    permission: 'control',
    params: [submissionId],
    body: { schema: 'SubmissionRecordBody' },
    ok: { status: 204, description: 'stored' },
  },
  {
    method: 'put',
    path: '/internal/submissions/{id}',
    tag: 'control worker',
    summary: "Store a submission's final view (once: a different one for a finished submission is 409)",
    permission: 'control',
    params: [submissionId],
    body: { schema: 'FinalViewBody' },
    ok: { status: 204, description: 'stored' },
  },
  {
    method: 'post',
    path: '/internal/reconcile',
    tag: 'control worker',
    summary:
      "End every running submission whose workflow is gone (aborted, cause internal, with the workflow's reason); the testbay-reconcile schedule calls it",
    permission: 'control',
    ok: { status: 200, description: '{"ended": [submission ids]}' },
  },
  {
    method: 'put',
    path: '/internal/control-workers/{worker}/task-failures',
    tag: 'control worker',
    summary: "A control worker's failed workflow tasks since it started (shown on the hosts page)",
    permission: 'control',
    params: [
      {
        name: 'worker',
        in: 'path',
        required: true,
        description: 'the control worker (control@<hostname>/<pid>)',
        schema: str,
      },
    ],
    body: { schema: 'TaskFailureReportBody' },
    ok: { status: 204, description: 'stored' },
  },
  {
    method: 'get',
    path: '/internal/delivery-queues/{queue}/pending',
    tag: 'control worker',
    summary: "A delivery queue's pending deliveries, in order",
    permission: 'control',
    params: [pathParam('queue', N.deliveryQueueParam, 'the delivery queue'), ...queryParams(N.pendingQuery)],
    ok: { status: 200, schema: 'PendingDeliveries', description: 'ids and places' },
  },
  {
    method: 'get',
    path: '/internal/deliveries/{id}/request',
    tag: 'control worker',
    summary: 'What one attempt of a delivery sends: URL, body, signed headers (the secret stays in the API)',
    permission: 'control',
    params: [deliveryId],
    ok: { status: 200, schema: 'DeliveryRequest', description: 'the request' },
  },
  {
    method: 'post',
    path: '/internal/deliveries/{id}/attempts',
    tag: 'control worker',
    summary: 'Record an attempt of a delivery (a 2xx answer delivers it)',
    permission: 'control',
    params: [deliveryId],
    body: { schema: 'AttemptBody' },
    ok: { status: 200, schema: 'Delivery', description: 'the delivery' },
  },
  {
    method: 'post',
    path: '/internal/deliveries/{id}/give-up',
    tag: 'control worker',
    summary: 'Give a delivery up: its retries ran out',
    permission: 'control',
    params: [deliveryId],
    body: { schema: 'GiveUpBody' },
    ok: { status: 200, schema: 'Delivery', description: 'the delivery' },
  },
  {
    method: 'post',
    path: '/internal/retention',
    tag: 'control worker',
    summary:
      'Delete what is past retention: logs and artifacts of finished jobs, then whole records; never of a running or kept submission (the testbay-retention schedule calls it daily)',
    permission: 'control',
    ok: { status: 200, schema: 'RetentionReport', description: 'what was deleted' },
  },
];

/** Endpoints outside /api/v1 (their path items carry a server of their own). */
export const ROOT_OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/metrics',
    tag: 'meta',
    summary: 'Prometheus metrics (text format 0.0.4): hosts by state, the lease queue, outcomes, failover durations',
    permission: 'read',
    ok: { status: 200, type: 'text/plain', description: 'metrics' },
  },
];

const FIELD_DOCS: Record<string, string> = {
  name: 'unique job name: letters, digits, ".", "_", "-"',
  description: 'free text for people',
  runner: 'the program to run, as an argv array (never a shell string)',
  settings: 'environment variables for the runner',
  workerClass: 'a label the host must offer (openQA WORKER_CLASS)',
  pool: 'the pool of hosts (one scheduler) to lease from: the hosts whose config names this pool (default: default); the jobs of a recipe set share one',
  hostRequires: 'constraints on host capabilities, e.g. "arch == x86_64", "memory_gb >= 16" (== != >= <= > <)',
  timeoutMs: "the runner's deadline in ms (default 1 h); past it the job is aborted (run-timeout)",
  provisionTimeoutMs: "provisioning's deadline in ms (default 10 min)",
  outputTimeoutMs:
    'stop the runner after this long without log output or a status line (aborted, no-output); default off, 15 min is a good value',
  queueTimeoutMs: 'cancel the job if no host was found within this many ms (off by default)',
  priority: 'lower runs first (0-1000, default 50)',
  maxRetries: 're-schedule an aborted recipe set on other hosts up to this many times (default 0; the server caps it)',
  assets: 'files downloaded (and sha256-checked) on the host before the job',
  tests: 'test code checked out (git) into the job work dir',
  startAfter: 'start (on any matching host) only after these jobs passed',
  startDirectlyAfter: 'run on the same host right after this job, nothing in between (a chain)',
  parallelWith: 'start together with these jobs on different hosts (a recipe set)',
  role: "what TESTBAY_ROLE says to the job's runner (Beaker's CLIENTS/SERVERS); default the job's name",
  stopPartnersOnFailure:
    'false: a failed or aborted job of this recipe set leaves its partners running to their end (openQA PARALLEL_CANCEL_WHOLE_CLUSTER=0); default true: they are stopped (skipped)',
  reserve:
    "keep the host for a person after the job: when (failed, aborted or always; never when the host was lost), durationMs (default 1 h, capped by TESTBAY_MAX_RESERVE_MS), sshKeys (TESTBAY_RESERVE_SSH_KEYS of the host's reserve hooks)",
  host: 'run only on this host (its id); refused at submit when the lab has no such host or it cannot take the job',
  scenarioKeys:
    "settings that, with the job's name and worker class, make its scenario (its history and last good run; openQA's flavor, arch, version)",
};

function describeFields(schema: Record<string, unknown>): void {
  const props = (schema as { properties?: Record<string, Record<string, unknown>> }).properties;
  for (const [key, value] of Object.entries(props ?? {}))
    if (FIELD_DOCS[key] && !value.description) value.description = FIELD_DOCS[key];
}

/** The job spec as JSON Schema (2020-12): what `schema/job-spec.schema.json` holds. */
export function jobSpecJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(submissionSpec, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown> & {
    properties: Record<string, Record<string, unknown>>;
  };
  describeFields(schema.properties.defaults ?? {});
  describeFields((schema.properties.jobs?.items ?? {}) as Record<string, unknown>);
  schema.properties.name = { ...schema.properties.name, description: 'a name for the submission' };
  schema.properties.defaults = {
    ...schema.properties.defaults,
    description: 'fields every job inherits unless it sets them',
  };
  return {
    $schema: schema.$schema,
    $id: 'https://testbay.invalid/schema/job-spec.schema.json',
    title: 'Testbay job spec',
    description:
      'A submission: jobs with their runner, settings, host requirements and dependencies (startAfter, startDirectlyAfter, parallelWith). Validated by the server, which also checks the dependency graph.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

let cached: Record<string, unknown> | undefined;

/** The OpenAPI 3.1 document (JSON Schema 2020-12 inside). */
export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(SCHEMAS)) registry.add(schema, { id });
  const generated = z.toJSONSchema(registry, {
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }).schemas;
  const schemas: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(generated)) {
    const { $schema: _drop, ...rest } = s as Record<string, unknown>;
    schemas[id] = rest;
  }
  const { $schema: _d, $id: _i, ...spec } = jobSpecJsonSchema();
  schemas.JobSpec = spec;
  schemas.Bytes = { type: 'string', format: 'binary' };
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of [...OPERATIONS, ...ROOT_OPERATIONS]) {
    const entry = (paths[op.path] ??= ROOT_OPERATIONS.includes(op)
      ? { servers: [{ url: '/', description: 'outside /api/v1' }] }
      : {});
    const responses: Record<string, unknown> = {
      [op.ok.status]: {
        description: op.ok.description,
        ...(op.ok.schema || op.ok.type
          ? {
              content: {
                [op.ok.type ?? 'application/json']: { schema: op.ok.schema ? ref(op.ok.schema) : { type: 'string' } },
              },
            }
          : {}),
      },
      default: {
        description: 'an error (400 bad input with issues, 401, 403, 404, 409, 413, 503)',
        content: { 'application/json': { schema: ref('Error') } },
      },
    };
    entry[op.method] = {
      tags: [op.tag],
      summary: op.summary,
      operationId: `${op.method}${op.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      description: `Needs ${ROLES[op.permission]}.`,
      ...(op.permission === 'none' ? { security: [] } : {}),
      ...(op.params
        ? {
            parameters: op.params.map((p) => ({
              name: p.name,
              in: p.in,
              required: p.required ?? p.in === 'path',
              description: p.description,
              schema: p.schema ?? { type: 'string' },
            })),
          }
        : {}),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              ...(op.body.description ? { description: op.body.description } : {}),
              content: { [op.body.type ?? 'application/json']: { schema: ref(op.body.schema) } },
            },
          }
        : {}),
      responses,
    };
  }
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'Testbay API',
      version: '1',
      description:
        'Test-lab orchestrator on Temporal. All paths are under /api/v1; JSON; `Authorization: Bearer <token>`.',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas },
    tags: [...new Set(OPERATIONS.map((o) => o.tag))].map((name) => ({ name })),
    paths,
  };
  return cached;
}

const escape = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** A plain page listing every operation, with its parameters and schemas folded away. */
export function docsPage(): string {
  const doc = openApiDocument() as { components: { schemas: Record<string, unknown> } };
  const rows = [...OPERATIONS, ...ROOT_OPERATIONS].map((op) => {
    const params = (op.params ?? [])
      .map(
        (p) =>
          `<li><code>${escape(p.name)}</code> (${p.in}${p.required ? ', required' : ''}): ${escape(p.description)}</li>`,
      )
      .join('');
    const body = op.body
      ? `<details><summary>request body: <code>${escape(op.body.schema)}</code> (${escape(op.body.type ?? 'application/json')})</summary><pre>${escape(JSON.stringify(doc.components.schemas[op.body.schema], null, 2))}</pre></details>`
      : '';
    const out = op.ok.schema
      ? `<details><summary>${op.ok.status}: <code>${escape(op.ok.schema)}</code></summary><pre>${escape(JSON.stringify(doc.components.schemas[op.ok.schema], null, 2))}</pre></details>`
      : `<div>${op.ok.status}: ${escape(op.ok.description)}</div>`;
    return `<section class="op" id="${escape(`${op.method}-${op.path}`)}"><h3><span class="m m-${op.method}">${op.method.toUpperCase()}</span> <code>${ROOT_OPERATIONS.includes(op) ? '' : '/api/v1'}${escape(op.path)}</code></h3><p>${escape(op.summary)}. <i>Needs ${escape(ROLES[op.permission])}.</i></p>${params ? `<ul>${params}</ul>` : ''}${body}${out}</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Testbay API</title><meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.5 system-ui,sans-serif;max-width:1000px;margin:24px auto;padding:0 16px;color:#1d232b}
code,pre{font-family:ui-monospace,monospace;font-size:12.5px}pre{background:#f3f4f6;padding:8px;overflow:auto;max-height:400px}
.op{border-top:1px solid #dde1e6;padding:8px 0}.op h3{margin:4px 0;font-size:15px}.m{display:inline-block;min-width:56px;text-align:center;border-radius:4px;color:#fff;font-size:12px;padding:1px 6px}
.m-get{background:#2563eb}.m-post{background:#15803d}.m-put{background:#a16207}.m-delete{background:#b91c1c}
</style></head><body>
<h1>Testbay API</h1>
<p>JSON over HTTP under <code>/api/v1</code>, with <code>Authorization: Bearer &lt;token&gt;</code>. Machine-readable: <a href="/api/v1/openapi.json">openapi.json</a> (OpenAPI 3.1, generated from the zod schemas); the job spec: <a href="/api/v1/job-spec.schema.json">job-spec.schema.json</a>. Errors are <code>{"error", "issues"?}</code>; a bad spec is 400 with <code>issues: [{path, message}]</code>. Prometheus metrics: <code>GET /metrics</code> (a read token). <a href="/">Dashboard</a>.</p>
${rows.join('\n')}
</body></html>
`;
}

export function openApiRoutes(): Router {
  const r = Router();
  r.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  r.get('/job-spec.schema.json', (_req, res) => {
    res.type('application/schema+json').send(jobSpecSchemaText());
  });
  r.get('/docs', (_req, res) => {
    res.type('html').set(DOCS_SECURITY_HEADERS).send(docsPage());
  });
  return r;
}

/** The text of schema/job-spec.schema.json (`npx testbay schema > schema/job-spec.schema.json`). */
export function jobSpecSchemaText(): string {
  return `${JSON.stringify(jobSpecJsonSchema(), null, 2)}\n`;
}
