/**
 * @module The CLI's commands: the processes of a lab (`dev`, `server`, `control`, `host`,
 * `setup`) and the actions of testers and operators (`submit`, `status`, `cancel`,
 * `logs`, `hosts`, `maintenance`).
 */
import fs from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { parseJobId } from '../domain/ids.js';
import { exitCodeOf, type ResultKind } from '../domain/outcome.js';
import { formatIssue, parseSpecText } from '../domain/parse-spec.js';
import { clientFor, UsageError } from './lab-target.js';
import { batchRunLines, hostsTable, jobsTable, submissionHeader } from './render.js';
import { watchSubmission } from './watch.js';
import { artifacts, job, markBroken, removeHost, results, submissionsTable } from './inspect.js';
import { REVIEW_USAGE, reviewCommands } from './review.js';
import { audit, webhook } from './notify.js';
import { PARTNER_USAGE, partnerCommands } from './partners.js';
import { describeExtensions } from '../domain/deadline.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { extendBody, powerBody } from '../api/routes/api-schemas.js';
import { ApiError } from '../api/client.js';
import { extendReservationCommand, RESERVATION_USAGE, reservationCommands, targetOf } from './reservations.js';

type Command = (args: string[]) => Promise<number>;

export function usage(): string {
  return `usage: testbay <command> [options]

Lab processes
  dev                          the embedded lab: Temporal dev server, API, control worker, hosts local-1..3
  server                       the HTTP API and result store
  control                      the control worker (workflows, scheduler)
  host --id ID --class CLASS [--class …] [--cap key=value …] [--work-dir DIR] [--runner-path DIR …] [--address A]
                               a lab host: runs jobs leased to it
  setup [--create] [--import-folder DIR] [--payload-key]
                               migrate the result store's schema, import a previous version's folder
                               store (<data dir>/results), register the search attributes on the
                               Temporal namespace and the daily testbay-retention schedule;
                               --payload-key makes the key secrets are sealed with (once per lab)

Testers and operators (TESTBAY_URL and TESTBAY_TOKEN, or the embedded lab's data dir)
  submit FILE [--watch] [--json]   submit a job spec (YAML or JSON); prints the submission id first
                                   (with --json only JSON: {"id", "workflowId", "jobs"}, or the final view)
  status [ID] [--json]             a submission's jobs, or a table of recent submissions
         [--state running|done] [--result R] [--host H] [-q TEXT] [--scenario KEY] [--limit N]
  cancel ID [--reason TEXT]        cancel a submission, or the chain of a job id (<submission>.<n>)
  extend JOB_ID --by 30m [--json]  give a running job more time (its submitter or operate; TESTBAY_MAX_EXTEND_MS in all);
                                   a reserved host's job or a HOST: its reservation (below)
  keep ID [--off] [--json]         keep a submission beyond the result store's retention (--off: unmark it)
  restart JOB_ID [--no-children] [--watch] [--json]
                                   re-run a finished job (with its chain ancestors and, unless
                                   --no-children, the jobs that depend on it) as a new submission
  logs JOB_ID [-f] [--json]        a job's log; -f follows it live (--json: {"id", "log"}; with -f one
                                   object a line, then {"id", "end": true, "result"})
  hosts [--json]                   hosts with state and reasons, and the lease queue
  maintenance HOST on|off          take a host out of scheduling, or back in
  clear-broken HOST                put a broken host back into scheduling
  power HOST on|off|cycle [--json] run the host config's powerCommand with that word (operate); exit 1 if it failed
  mark-broken HOST [--reason TEXT] stop leasing a host until it is cleared
  remove-host HOST                 forget a host (it registers again when its process restarts)
  results ID [--junit] [--json] [-o FILE]
                                   per-test results of a submission (or of one job), and the
                                   verdicts of its batch runs (or of one: ID <submission>.<n>);
                                   --junit writes JUnit XML for CI systems
  job JOB_ID [--json]              one job: state, result and reason, host, lineage, Temporal Web link
  artifacts JOB_ID [NAME] [-o FILE] [--json]
                                   a job's artifacts, or one of them (to stdout or FILE)
  schema [--openapi]               the job spec's JSON Schema (or the API's OpenAPI document)
${REVIEW_USAGE}
  webhook add URL --events submission.done,job.done,host.broken [--filter KEY=V[,V]]…
                                   subscribe a receiver (operate token); prints its secret once;
                                   filter keys: name, result, host, workerClass (globs with *)
  webhook list|delete ID|deliveries [ID]|resend DELIVERY_ID
                                   subscriptions, the delivery log (status, time, attempts), re-send
  audit [--target ID] [--actor NAME] [--action A] [--json]
                                   who did what, when, from where (cancel, restart, keep, hosts, webhooks)
${RESERVATION_USAGE}
${PARTNER_USAGE}

Every command takes --json where it prints something, for scripts.

Exit codes (submit --watch, restart --watch, status ID and logs -f end with the verdict;
other commands exit 0 when done):
  0  passed
  1  failed: a test failed (or a job was skipped because of it); nothing else exits 1
  2  bad input or usage: an invalid spec, an unknown id (404), a conflict (409), or a token
     the API refused (401 unknown or missing token, 403 a role that may not do this)
  3  aborted (an infrastructure fault, after retries) or cancelled
  4  no verdict: cannot reach the server, a server error (5xx, 503 when Temporal is down),
     or an unexpected error
`;
}

const json = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

const submit: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { watch: { type: 'boolean', short: 'w' }, json: { type: 'boolean' } },
  });
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError('usage: testbay submit FILE [--watch] [--json]');
  const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${file}: ${err.code ?? err.message}`);
  });
  const parsed = parseSpecText(text);
  if (!parsed.ok) {
    process.stderr.write(
      `testbay: invalid job spec ${file}:\n${parsed.issues.map((i) => `  ${formatIssue(i)}\n`).join('')}`,
    );
    return 2;
  }
  const client = clientFor(loadConfig());
  const created = await client.submit(text);
  // With --json, stdout is JSON alone (`| jq .id`): the id is the object's first field.
  if (!values.json) process.stdout.write(`${created.id}\n`);
  if (!values.watch) {
    if (values.json) json(created);
    return 0;
  }
  const final = await watchSubmission(client, created.id, { json: values.json === true });
  return exitCodeOf(final.result ?? 'aborted');
};

const status: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      limit: { type: 'string' },
      state: { type: 'string' },
      result: { type: 'string' },
      host: { type: 'string' },
      q: { type: 'string', short: 'q' },
      scenario: { type: 'string' },
    },
  });
  const client = clientFor(loadConfig());
  const id = positionals[0];
  if (!id) {
    const filters = Object.fromEntries(
      (['state', 'result', 'host', 'q', 'scenario'] as const).flatMap((k) => (values[k] ? [[k, values[k]]] : [])),
    );
    const { submissions } = await client.submissions({ limit: values.limit ?? '20', ...filters });
    if (values.json) json(submissions);
    else process.stdout.write(`${submissionsTable(submissions).join('\n')}\n`);
    return 0;
  }
  const view = await client.submission(parseJobId(id).submissionId);
  if (values.json) json(view);
  else {
    const colour = process.stdout.isTTY === true;
    const jobs = view.jobs.length > 0 ? jobsTable(view, colour, process.stdout.columns ?? 160) : [];
    process.stdout.write(`${[submissionHeader(view, colour), ...jobs, ...batchRunLines(view, colour)].join('\n')}\n`);
    if (view.notice) process.stdout.write(`note: ${view.notice}\n`);
  }
  return view.state === 'done' ? exitCodeOf(view.result as ResultKind) : 0;
};

const cancel: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { reason: { type: 'string' }, json: { type: 'boolean' } },
  });
  const id = positionals[0];
  if (!id) throw new UsageError('usage: testbay cancel ID [--reason TEXT]');
  const client = clientFor(loadConfig());
  const answer = (
    parseJobId(id).kind !== 'submission'
      ? await client.cancelJob(id, values.reason)
      : await client.cancelSubmission(id, values.reason)
  ) as { cancelling: boolean; result?: string };
  if (values.json) json({ id, ...answer });
  else if (answer.cancelling) process.stdout.write(`cancelling ${id}\n`);
  // Its workflow was gone: the API ended it instead of cancelling it.
  else process.stdout.write(`${id} had no running workflow left; it is now recorded as ${answer.result ?? 'ended'}\n`);
  return 0;
};

/**
 * One extend for both: a running job gets more time (its deadline); a job whose host is
 * reserved after it, or a host, gets its reservation extended.
 */
const extend: Command = async (args) => {
  const usage = 'usage: testbay extend JOB_ID|HOST --by 30m [--json]   (90s, 30m, 2h, 1d or milliseconds)';
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { by: { type: 'string' }, json: { type: 'boolean' } },
  });
  const id = positionals[0];
  if (!id || positionals.length > 1 || values.by === undefined) throw new UsageError(usage);
  const target = targetOf(id, usage);
  const by = parseDuration(values.by);
  if (!by.ok) throw new UsageError(`--by: ${by.message}`);
  // The same check the API makes, with its words.
  const body = extendBody.safeParse({ byMs: by.ms });
  if (!body.success) throw new UsageError(body.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  if (!('jobId' in target)) return extendReservationCommand(target, body.data.byMs, values.json === true);
  if (parseJobId(target.jobId).kind === 'submission') throw new UsageError(usage);
  // A running job first (its deadline is what is short); one that ended may have kept its host.
  const answer = await clientFor(loadConfig())
    .extendJob(target.jobId, body.data.byMs)
    .catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 409) return undefined;
      throw err;
    });
  if (answer === undefined) return extendReservationCommand(target, body.data.byMs, values.json === true);
  if (values.json) json(answer);
  else
    process.stdout.write(
      `${target.jobId}: deadline extended by ${formatDuration(by.ms)} (${formatDuration(answer.extendedMs)} in all: ${describeExtensions(answer.extensions)})\n`,
    );
  return 0;
};

const keep: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { off: { type: 'boolean' }, json: { type: 'boolean' } },
  });
  const id = positionals[0];
  if (!id || positionals.length > 1 || parseJobId(id).kind !== 'submission')
    throw new UsageError('usage: testbay keep SUBMISSION_ID [--off] [--json]');
  const kept = await clientFor(loadConfig()).keep(id, values.off !== true);
  if (values.json) json(kept);
  else
    process.stdout.write(
      kept.keep
        ? `${id}: kept until unmarked (testbay keep ${id} --off)\n`
        : `${id}: no longer kept; retention applies\n`,
    );
  return 0;
};

const restart: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'no-children': { type: 'boolean' },
      failed: { type: 'boolean' },
      watch: { type: 'boolean', short: 'w' },
      json: { type: 'boolean' },
    },
  });
  const id = positionals[0];
  const usage =
    'usage: testbay restart JOB_ID [--no-children] [--watch] [--json], or testbay restart SUBMISSION_ID --failed [--watch] [--json]';
  if (!id || positionals.length > 1 || (values.failed === true) !== (parseJobId(id).kind === 'submission'))
    throw new UsageError(usage);
  const client = clientFor(loadConfig());
  // --failed: every failed, aborted and skipped job of a submission, as one new submission.
  const created = values.failed
    ? await client.rerunFailed(id)
    : await client.restartJob(id, { children: values['no-children'] !== true });
  if (!values.json) process.stdout.write(`${created.id}\n`);
  if (!values.watch) {
    if (values.json) json(created);
    else process.stderr.write(`re-running ${created.jobs.map((j) => j.name).join(', ')}\n`);
    return 0;
  }
  const final = await watchSubmission(client, created.id, { json: values.json === true });
  return exitCodeOf(final.result ?? 'aborted');
};

const logs: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { follow: { type: 'boolean', short: 'f' }, json: { type: 'boolean' } },
  });
  const id = positionals[0];
  if (!id) throw new UsageError('usage: testbay logs JOB_ID [-f] [--json]');
  const client = clientFor(loadConfig());
  if (!values.follow) {
    const log = await client.log(id);
    if (values.json) json({ id, log });
    else process.stdout.write(log);
    return 0;
  }
  if (values.json) {
    // One JSON object per line: every chunk as it arrives, then the end with the result.
    const line = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
    const result = await client.followLog(id, (text) => line({ id, log: text }));
    line({ id, end: true, result });
    return result ? exitCodeOf(result.kind) : 0;
  }
  const result = await client.followLog(id, (text) => process.stdout.write(text));
  if (result)
    process.stderr.write(
      `-- job ${id} ${result.kind}${'reason' in result && result.reason ? `: ${result.reason}` : ''}\n`,
    );
  return result ? exitCodeOf(result.kind) : 0;
};

const hosts: Command = async (args) => {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
  const lab = await clientFor(loadConfig()).hosts();
  if (values.json) json(lab);
  else process.stdout.write(`${hostsTable(lab, process.stdout.isTTY === true).join('\n')}\n`);
  return 0;
};

const clearBroken: Command = async (args) => {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const hostId = positionals[0];
  if (!hostId) throw new UsageError('usage: testbay clear-broken HOST');
  const host = await clientFor(loadConfig()).clearBroken(hostId);
  if (values.json) json(host);
  else process.stdout.write(`${host.id}: ${host.state}\n`);
  return 0;
};

const power: Command = async (args) => {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const [hostId, action] = positionals;
  const parsed = powerBody.safeParse({ action });
  if (!hostId || positionals.length !== 2 || !parsed.success)
    throw new UsageError(
      `usage: testbay power HOST on|off|cycle [--json]${action !== undefined && !parsed.success ? `\naction: ${parsed.error.issues[0]?.message ?? 'invalid'}` : ''}`,
    );
  const answer = await clientFor(loadConfig()).power(hostId, parsed.data.action);
  if (values.json) json(answer);
  else process.stdout.write(`${hostId}: ${answer.summary}${answer.ok && answer.output ? `\n${answer.output}` : ''}\n`);
  return answer.ok ? 0 : 1;
};

const maintenance: Command = async (args) => {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const [hostId, mode] = positionals;
  if (!hostId || (mode !== 'on' && mode !== 'off')) throw new UsageError('usage: testbay maintenance HOST on|off');
  const host = await clientFor(loadConfig()).setMaintenance(hostId, mode === 'on');
  if (values.json) json(host);
  else process.stdout.write(`${host.id}: ${host.state}${host.maintenance ? ' (maintenance)' : ''}\n`);
  return 0;
};

const schema: Command = async (args) => {
  const { values } = parseArgs({ args, options: { openapi: { type: 'boolean' } } });
  const { jobSpecSchemaText, openApiDocument } = await import('../api/routes/openapi.js');
  process.stdout.write(values.openapi ? `${JSON.stringify(openApiDocument(), null, 2)}\n` : jobSpecSchemaText());
  return 0;
};

export const commands: Record<string, Command> = {
  // Lab processes load the Temporal worker and express: only when asked for.
  dev: async () => {
    const [{ runDev }, { loggerFor }] = await Promise.all([import('./dev.js'), import('../logger.js')]);
    const config = loadConfig();
    return runDev(config, loggerFor(config, 'dev'));
  },
  server: async () => (await import('./processes.js')).runServerProcess(loadConfig()),
  control: async () => (await import('./processes.js')).runControlProcess(loadConfig()),
  host: async (args) => (await import('./processes.js')).runHostProcess(loadConfig(), args),
  setup: async (args) => (await import('./processes.js')).runSetup(loadConfig(), args),
  submit,
  status,
  cancel,
  extend,
  power,
  keep,
  logs,
  hosts,
  maintenance,
  'clear-broken': clearBroken,
  restart,
  schema,
  results,
  job,
  artifacts,
  'mark-broken': markBroken,
  'remove-host': removeHost,
  ...reviewCommands,
  webhook,
  audit,
  ...partnerCommands,
  ...reservationCommands,
};
