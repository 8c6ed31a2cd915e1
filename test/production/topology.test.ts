/**
 * The production topology end to end, all on loopback and every part a real process:
 * a throwaway PostgreSQL 15 cluster (Temporal's two databases and Testbay's), a real
 * Temporal server on it (not the dev server), VersityGW as the object store, two
 * `testbay server` processes on one database and bucket, a control worker and three
 * hosts (`bin/testbay.js`), given both API URLs. One submission with a chain, a recipe
 * set and a batch run; while it runs, one API server dies (kill -9) mid-upload, the
 * Temporal server is killed and started again, the control worker is killed and a new one
 * started, and the long job's log is followed live through the other API server. Every
 * job must end in its right state, and every log byte and test result must be there: the
 * stored logs are compared byte for byte with the files the hosts wrote. The suite prints
 * what it measured. Then a host reserved after a failed job stays reserved through another
 * Temporal server restart and takes a waiting job once released. The commands are the ones
 * docs/deployment.md shows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundleWorkflowCode } from '@temporalio/worker';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/api/auth.js';
import { TestbayClient } from '../../src/api/client.js';
import type { SubmissionView } from '../../src/domain/views.js';
import { WORKFLOWS_PATH } from '../../src/workers/control.js';
import { writeTokenFile } from '../../src/workers/token-source.js';
import { BIN, RUNNER_PATH, TEST_ENV, waitFor } from '../helpers/lab.js';
import { freePort } from '../helpers/ports.js';
import { startPostgres, startVersity, type PostgresServer, type S3Server } from '../helpers/store-servers.js';
import { startTemporalServer, type TemporalServer } from '../helpers/temporal-server.js';

const began = Date.now();
const out = path.resolve('test-output', 'production');
const HOSTS = ['p1', 'p2', 'p3'];
const LONG_MODULES = Array.from({ length: 30 }, (_, i) => `m${i + 1}`);
/** the long job: 30 modules of 1 s, 40 log lines each, a screenshot each */
const longSettings = { MODULES: LONG_MODULES.join(','), MODULE_MS: '1000', LOG_LINES: '40', SCREENSHOTS: '1' };

let dir: string;
let postgres: PostgresServer | undefined;
let s3: S3Server | undefined;
let temporal: TemporalServer | undefined;
const parts = new Map<string, ChildProcess>();
let base: Record<string, string>;
let urls: { a: string; b: string };
let both: TestbayClient;
let onB: TestbayClient;
const measured: Record<string, string> = {};
/** where control-1 and control-2 serve their metrics (failed workflow tasks) */
let metricsPorts: number[] = [];
/** A control worker's failed workflow tasks (a stuck or non-deterministic workflow shows here). */
async function taskFailures(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^testbay_workflow_task_failures_total (\d+)$/m.exec(text)?.[1] ?? NaN);
}

/** Starts `testbay <args>` as its own process, its output in test-output/production/<name>.log. */
function part(name: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(path.join(out, `${name}.log`), { flags: 'a' });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  parts.set(name, child);
  return child;
}

function kill9(name: string): void {
  const child = parts.get(name);
  if (!child?.pid) throw new Error(`no process ${name}`);
  process.kill(child.pid, 'SIGKILL');
}

async function stopPart(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([gone, sleep(10_000).then(() => child.kill('SIGKILL'))]);
}

/** Runs the real CLI to its end. */
async function testbay(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stdout, stderr };
}

const ms = (n: number) => `${(n / 1000).toFixed(1)} s`;

beforeAll(async () => {
  await fs.rm(out, { recursive: true, force: true });
  await fs.mkdir(out, { recursive: true });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-production-'));
  const secrets = path.join(dir, 'secrets');
  await fs.mkdir(secrets, { mode: 0o700 });
  const startedParts = Date.now();
  const [pgServer, s3Server, bundle] = await Promise.all([
    // PostgreSQL's default max_connections: Temporal's default pools alone (120) would not fit.
    startPostgres(path.join(out, 'postgres.log'), { maxConnections: 100 }),
    startVersity(path.join(out, 'versitygw.log')),
    bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} },
    }),
  ]);
  postgres = pgServer;
  s3 = s3Server;
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  await fs.writeFile(bundlePath, bundle.code);
  await s3.createBucket('testbay-lab');
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  const maxConnections = Number(
    (await admin.query<{ max_connections: string }>('SHOW max_connections')).rows[0]!.max_connections,
  );
  await admin.end();
  // Testbay's share: two API servers with a pool of 10 and a listener each, the setup, superuser slots.
  const reserved = 2 * (10 + 1) + 2 + 3;
  temporal = await startTemporalServer({
    postgres,
    maxConnections,
    reservedConnections: reserved,
    dir,
    logFile: path.join(out, 'temporal-server.log'),
  });
  measured['Temporal pools'] =
    `SQL_MAX_CONNS=${temporal.pools.maxConns} SQL_VIS_MAX_CONNS=${temporal.pools.visMaxConns} (${temporal.pools.total} of max_connections=${maxConnections}, ${reserved} left to Testbay)`;
  const databaseUrl = await postgres.createDatabase('testbay');

  const tokens = { submit: newToken(), operate: newToken(), control: newToken(), host: newToken() };
  await writeTokenFile(path.join(secrets, 'host.token'), tokens.host);
  await writeTokenFile(path.join(secrets, 'control.token'), tokens.control);
  const [portA, portB] = [await freePort(), await freePort()];
  urls = { a: `http://127.0.0.1:${portA}`, b: `http://127.0.0.1:${portB}` };
  base = {
    ...TEST_ENV,
    // A restarted Temporal server must not look like dead hosts: heartbeats and pickups get 30 s.
    TESTBAY_HEARTBEAT_TIMEOUT_MS: '30000',
    TESTBAY_HOST_PICKUP_TIMEOUT_MS: '30000',
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: 'testbay',
    TESTBAY_PAYLOAD_KEY_FILE: path.join(secrets, 'payload.key'),
  };
  const store = {
    TESTBAY_DATABASE_URL: databaseUrl,
    TESTBAY_DATABASE_POOL: '10',
    TESTBAY_OBJECT_STORE: 's3://testbay-lab/results',
    TESTBAY_S3_ENDPOINT: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKey,
    AWS_SECRET_ACCESS_KEY: s3.secretKey,
  };
  // testbay setup --create --payload-key: the store's schema, the namespace, its search attributes (visible), the schedules.
  const setup = await testbay(['setup', '--create', '--payload-key'], {
    ...base,
    ...store,
    TESTBAY_DATA_DIR: path.join(dir, 'setup'),
  });
  expect(setup.code, setup.stderr).toBe(0);
  expect(setup.stdout).toMatch(/namespace testbay on 127\.0\.0\.1:\d+ is ready for Testbay/);

  const tokenList = JSON.stringify([
    { token: tokens.submit, role: 'submit', name: 'tester' },
    { token: tokens.operate, role: 'operate', name: 'operator' },
    { token: tokens.control, role: 'control', name: 'control' },
    { token: tokens.host, role: 'host', name: 'hosts' },
  ]);
  for (const [name, port] of [
    ['api-a', portA],
    ['api-b', portB],
  ] as const) {
    part(name, ['server'], {
      ...base,
      ...store,
      TESTBAY_TOKENS: tokenList,
      TESTBAY_PORT: String(port),
      TESTBAY_BIND: '127.0.0.1',
      TESTBAY_DATA_DIR: path.join(dir, name),
    });
  }
  await Promise.all(
    [urls.a, urls.b].map((u) =>
      waitFor(`the API at ${u}`, async () => (await fetch(`${u}/api/v1/health`)).ok, 60_000, 200),
    ),
  );
  base.TESTBAY_URL = `${urls.a},${urls.b}`;
  metricsPorts = [await freePort(), await freePort()];
  part('control-1', ['control'], {
    ...base,
    TESTBAY_CONTROL_TOKEN_FILE: path.join(secrets, 'control.token'),
    TESTBAY_WORKFLOW_BUNDLE: bundlePath,
    TESTBAY_DATA_DIR: path.join(dir, 'control'),
    TESTBAY_CONTROL_METRICS_PORT: String(metricsPorts[0]),
  });
  for (const id of HOSTS) {
    part(
      id,
      [
        'host',
        '--id',
        id,
        '--class',
        'local',
        '--runner-path',
        RUNNER_PATH,
        '--work-dir',
        path.join(dir, 'hosts', id),
        '--token-file',
        path.join(secrets, 'host.token'),
      ],
      { ...base, TESTBAY_DATA_DIR: path.join(dir, 'host-data') },
    );
  }
  both = new TestbayClient(base.TESTBAY_URL, tokens.operate);
  onB = new TestbayClient(urls.b, tokens.operate);
  base.TESTBAY_TOKEN = tokens.operate;
  base.TESTBAY_CONTROL_TOKEN_FILE = path.join(secrets, 'control.token');
  base.TESTBAY_WORKFLOW_BUNDLE = bundlePath;
  await waitFor(
    'three hosts online',
    async () => (await both.hosts()).hosts.filter((h) => h.online).length === HOSTS.length,
    120_000,
    500,
  );
  measured['start-up (PostgreSQL, Temporal server, VersityGW, 2 API servers, control, 3 hosts)'] = ms(
    Date.now() - startedParts,
  );
});

afterAll(async () => {
  await Promise.all([...parts.values()].map((c) => stopPart(c)));
  await temporal?.stop();
  await Promise.all([s3?.stop(), postgres?.stop()]);
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  measured['suite wall time'] = ms(Date.now() - began);
  process.stdout.write(
    `\nProduction topology, measured:\n${Object.entries(measured)
      .map(([k, v]) => `  ${k}: ${v}`)
      .join('\n')}\n`,
  );
});

const duration = (j: { startedAt?: string; endedAt?: string }) => Date.parse(j.endedAt!) - Date.parse(j.startedAt!);

/** The stored log of a job is byte for byte the file its host's runner wrote. */
async function expectLogIntact(client: TestbayClient, jobId: string, hostId: string): Promise<Buffer> {
  const local = await fs.readFile(path.join(dir, 'hosts', hostId, 'jobs', jobId, 'runner.log'));
  const stored = Buffer.from(
    await (
      await fetch(`${client.baseUrl}/api/v1/jobs/${encodeURIComponent(jobId)}/log`, {
        headers: { authorization: `Bearer ${base.TESTBAY_TOKEN}` },
      })
    ).arrayBuffer(),
  );
  expect(stored.length, `log of ${jobId}`).toBe(local.length);
  expect(stored.equals(local), `log of ${jobId} is the host's runner.log byte for byte`).toBe(true);
  return local;
}

describe('the production topology', () => {
  let baselineMs = 0;

  it('runs the long job undisturbed first (its time is the baseline)', async () => {
    const spec = path.join(dir, 'baseline.json');
    await fs.writeFile(
      spec,
      JSON.stringify({
        name: 'baseline',
        jobs: [{ name: 'install', workerClass: 'local', runner: { command: ['os-test'] }, settings: longSettings }],
      }),
    );
    const submitted = await testbay(['submit', spec, '--watch', '--json'], base);
    expect(submitted.code, submitted.stderr).toBe(0);
    const view = JSON.parse(submitted.stdout) as SubmissionView;
    expect(view.result).toBe('passed');
    baselineMs = duration(view.jobs[0]!);
    measured['long job undisturbed'] = ms(baselineMs);
    await expectLogIntact(both, view.jobs[0]!.id, view.jobs[0]!.hostId!);
  });

  it('runs a chain, a recipe set and a batch run to their right ends through an API server death, a Temporal server restart and a control worker restart', async () => {
    const spec = path.join(dir, 'production.yaml');
    const tests = Array.from({ length: 30 }, (_, i) => `t${i + 1}`);
    await fs.writeFile(
      spec,
      JSON.stringify({
        name: 'production',
        defaults: {
          workerClass: 'local',
          runner: { command: ['os-test'] },
          maxRetries: 1,
          settings: { MODULE_MS: '300', SCREENSHOTS: '0' },
        },
        jobs: [
          // the chain: install, then desktop directly after it on the same host
          { name: 'install', settings: longSettings },
          { name: 'desktop', startDirectlyAfter: 'install', settings: { MODULES: 'boot,login,desktop' } },
          // a recipe set of two hosts at once; its client fails a test
          { name: 'server', parallelWith: 'client', settings: { MODULES: 'boot,server' } },
          { name: 'client', settings: { MODULES: 'boot,client', FAIL_MODULE: 'client' } },
        ],
        batchRuns: [
          {
            name: 'devices',
            workerClass: 'local',
            runner: { command: ['batch-test'] },
            settings: { TEST_MS: '300' },
            batchSize: 5,
            maxHosts: 3,
            tests,
          },
        ],
      }),
    );
    const submitted = await testbay(['submit', spec, '--json'], base);
    expect(submitted.code, submitted.stderr).toBe(0);
    const { id, jobs } = JSON.parse(submitted.stdout) as { id: string; jobs: { id: string; name: string }[] };
    const install = jobs.find((j) => j.name === 'install')!.id;

    // Follow the long job's log live through server B; the hosts upload through A.
    await waitFor(
      'the long job to log',
      async () => ((await onB.job(install)).logBytes > 0 ? true : undefined),
      120_000,
      100,
    );
    const followed: Buffer[] = [];
    const follower = spawn(process.execPath, [BIN, 'logs', install, '-f'], {
      env: { ...process.env, ...base, TESTBAY_URL: urls.b },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    follower.stdout.on('data', (d: Buffer) => followed.push(d));
    const followEnd = new Promise<number | null>((resolve) => follower.once('close', resolve));

    // kill -9 server A while the long job uploads through it.
    await waitFor(
      'the long job a few seconds in',
      async () => ((await onB.job(install)).logBytes > 20_000 ? true : undefined),
      60_000,
      100,
    );
    kill9('api-a');
    const killedAt = Date.now();
    const sizeAtKill = (await onB.job(install)).logBytes;
    await waitFor(
      'the log to grow through server B',
      async () => ((await onB.job(install)).logBytes > sizeAtKill ? true : undefined),
      60_000,
      20,
    );
    measured['take-over after the API server died (first log bytes through the other)'] = ms(Date.now() - killedAt);

    // Restart the Temporal server (kill -9, start on the same databases).
    const temporalAt = Date.now();
    await temporal!.restart();
    measured['Temporal server restart (kill -9 until it answers)'] = ms(Date.now() - temporalAt);

    // kill -9 the control worker and start a new one.
    expect(await taskFailures(metricsPorts[0]!)).toBe(0);
    kill9('control-1');
    const controlAt = Date.now();
    part('control-2', ['control'], {
      ...base,
      TESTBAY_DATA_DIR: path.join(dir, 'control'),
      TESTBAY_CONTROL_METRICS_PORT: String(metricsPorts[1]),
    });
    await waitFor(
      'the new control worker to serve',
      async () => ((await both.hosts()).hosts.length === HOSTS.length ? true : undefined),
      60_000,
      200,
    );
    measured['control worker replaced (kill -9 until the scheduler answers)'] = ms(Date.now() - controlAt);

    // Every job ends in its right state.
    const view = await waitFor(
      'the submission to end',
      async () => {
        const v = await both.submission(id);
        return v.state === 'done' ? v : undefined;
      },
      240_000,
      500,
    ).catch(async (err: unknown) => {
      const v = await both.submission(id).catch(() => undefined);
      throw new Error(
        `${(err as Error).message}; jobs: ${JSON.stringify(v?.jobs.map((j) => [j.name, j.state, j.result?.kind, j.hostId]))}, batch run: ${JSON.stringify(v?.batchRuns?.map((r) => [r.state, r.counts, r.running]))}`,
        { cause: err },
      );
    });
    const byName = new Map(view.jobs.map((j) => [j.name, j]));
    expect(Object.fromEntries([...byName].map(([n, j]) => [n, j.result?.kind]))).toEqual({
      install: 'passed',
      desktop: 'passed',
      server: 'passed',
      client: 'failed',
    });
    expect(view.result).toBe('failed');
    expect(byName.get('desktop')!.hostId).toBe(byName.get('install')!.hostId);
    expect(byName.get('server')!.hostId).not.toBe(byName.get('client')!.hostId);
    const run = view.batchRuns![0]!;
    expect(run.result).toBe('passed');
    expect(run.counts.passed).toBe(tests.length);
    const verdicts = (await both.verdicts(run.id)).verdicts;
    expect(verdicts.map((v) => v.test).sort()).toEqual([...tests].sort());
    expect(verdicts.every((v) => v.verdict === 'passed')).toBe(true);

    // The hosts were uploading when A died: at least one saw it and went on through B.
    const hostLogs = await Promise.all(HOSTS.map((h) => fs.readFile(path.join(out, `${h}.log`), 'utf8')));
    expect(
      hostLogs.some((l) =>
        l.includes(`API server unreachable; uploading through the next one from=${urls.a} to=${urls.b}`),
      ),
    ).toBe(true);

    // No log byte lost: what was followed through B, what B serves, and what the host wrote are one.
    expect(await followEnd).toBe(0);
    const installLog = await expectLogIntact(both, install, byName.get('install')!.hostId!);
    expect(Buffer.concat(followed).equals(installLog), 'the log followed live through B is the whole log').toBe(true);
    for (const job of view.jobs) await expectLogIntact(both, job.id, job.hostId!);
    for (let n = 1; n <= run.batches; n++) {
      const batch = await both.job(`${run.id}.${n}`);
      if (batch.hostId) await expectLogIntact(both, batch.id, batch.hostId);
    }
    // No test result lost: every module of the long job, and its screenshots as artifacts.
    const details = await both.job(install);
    expect(details.tests.map((t) => [t.name, t.status])).toEqual(LONG_MODULES.map((m) => [m, 'passed']));
    const localShots = (
      await fs.readdir(path.join(dir, 'hosts', details.hostId!, 'jobs', install, 'results', 'screenshots'))
    ).sort();
    expect(localShots.length).toBe(LONG_MODULES.length);
    expect(
      details.artifacts
        .map((a) => a.name)
        .filter((n) => n.startsWith('screenshots/'))
        .sort(),
    ).toEqual(localShots.map((f) => `screenshots/${f}`));
    expect(
      (await both.job(jobs.find((j) => j.name === 'client')!.id)).tests.find((t) => t.name === 'client')?.status,
    ).toBe('failed');

    // The new control worker replayed every workflow it took over without a failed workflow task.
    expect(await taskFailures(metricsPorts[1]!)).toBe(0);

    measured['long job under the faults'] = ms(duration(byName.get('install')!));
    measured["the long job's extra time"] = ms(duration(byName.get('install')!) - baselineMs);
  });

  it('keeps a reserved host out of the pool through a Temporal server restart, and gives it back when released', async () => {
    const hold = path.join(dir, 'hold.json');
    await fs.writeFile(
      hold,
      JSON.stringify({
        name: 'hold',
        jobs: [
          {
            name: 'broken',
            workerClass: 'local',
            host: 'p1',
            runner: { command: ['sh', '-c', 'exit 1'] },
            reserve: { when: 'failed', durationMs: 3_600_000 },
          },
        ],
      }),
    );
    const held = await testbay(['submit', hold, '--json'], base);
    expect(held.code, held.stderr).toBe(0);
    const { id, jobs } = JSON.parse(held.stdout) as { id: string; jobs: { id: string }[] };
    const reserved = await waitFor(
      'p1 to be reserved',
      async () => {
        const h = (await both.hosts()).hosts.find((x) => x.id === 'p1');
        return h?.state === 'reserved' ? h : undefined;
      },
      120_000,
      200,
    );
    const until = reserved.lease!.reservation!.until;
    expect(reserved.lease!.reservation).toMatchObject({ kind: 'job', jobId: jobs[0]!.id, submissionId: id });

    // A job pinned to p1 waits behind the reservation.
    const next = path.join(dir, 'next.json');
    await fs.writeFile(
      next,
      JSON.stringify({
        name: 'next',
        jobs: [{ name: 'next', workerClass: 'local', host: 'p1', runner: { command: ['true'] } }],
      }),
    );
    const queued = await testbay(['submit', next, '--json'], base);
    expect(queued.code, queued.stderr).toBe(0);
    const nextId = (JSON.parse(queued.stdout) as { id: string }).id;

    // The Temporal server dies and comes back: the reservation is in the chain's workflow.
    await temporal!.restart();
    const after = await waitFor(
      'the scheduler to answer again',
      async () => (await both.hosts().catch(() => undefined))?.hosts.find((x) => x.id === 'p1'),
      60_000,
      200,
    );
    expect(after.state).toBe('reserved');
    expect(after.lease!.reservation!.until).toBe(until);
    const waiting = await waitFor(
      'the pinned job to say why it waits',
      async () => {
        const job = (await both.submission(nextId)).jobs[0]!;
        expect(job.state).not.toBe('done');
        return job.waitingReason?.includes('reserved') ? job.waitingReason : undefined;
      },
      30_000,
      200,
    );
    expect(waiting).toMatch(/^host p1 .* is reserved by /);

    // Released from the CLI by job id: the host goes back and takes the waiting job.
    const released = await testbay(['release', jobs[0]!.id, '--json'], base);
    expect(released.code, released.stderr).toBe(0);
    const ran = await waitFor(
      'the pinned job to end',
      async () => {
        const v = await both.submission(nextId);
        return v.state === 'done' ? v : undefined;
      },
      120_000,
      300,
    );
    expect(ran.jobs[0]!.hostId).toBe('p1');
    expect(ran.result).toBe('passed');
    expect(
      (
        await waitFor(
          'the held submission to end',
          async () => {
            const v = await both.submission(id);
            return v.state === 'done' ? v : undefined;
          },
          60_000,
          300,
        )
      ).result,
    ).toBe('failed');
    expect(await taskFailures(metricsPorts[1]!)).toBe(0);
  });
});
