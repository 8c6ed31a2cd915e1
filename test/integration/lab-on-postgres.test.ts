/**
 * A lab whose result store is a real PostgreSQL server: jobs run and their records are in
 * its tables; a second API server on the same database serves the same submissions and
 * follows a live log that the host uploads through the first; `testbay keep` marks a
 * submission; the daily `testbay-retention` schedule exists and its workflow reports
 * what it deleted.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestbayClient } from '../../src/api/client.js';
import { startServer, type RunningServer } from '../../src/api/server.js';
import { RETENTION_SCHEDULE_ID } from '../../src/domain/ids.js';
import { createLogger } from '../../src/logger.js';
import { cli } from '../helpers/cli.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
let second: RunningServer;

beforeAll(async () => {
  lab = await TestLab.start({ name: 'pglab', engine: 'postgres', hosts: [{ id: 'p1' }] });
  second = await startServer(
    { ...lab.config, api: { ...lab.config.api, port: 0 } },
    createLogger('second-api', 'warn', () => undefined),
    0,
  );
});

afterAll(async () => {
  await second?.close();
  await lab?.stop();
});

describe('a lab on PostgreSQL', () => {
  it('keeps its submissions in the database, and a second API server serves them and a live log uploaded through the first', async () => {
    const { id, jobs } = await lab.submit({
      name: 'on-postgres',
      jobs: [osTest('slow', { MODULES: 'boot,install,login', MODULE_MS: '700', LOG_LINES: '3' })],
    });
    const other = new TestbayClient(second.url, lab.tokens.submit);
    // Follow on server B from the start; the host uploads through server A (lab.env's TESTBAY_URL).
    let followed = '';
    const result = await other.followLog(jobs[0]!.id, (t) => (followed += t));
    expect(result).toEqual({ kind: 'passed' });
    expect(followed).toMatch(/all modules passed\n$/);
    expect(followed).toBe(await lab.api.log(jobs[0]!.id));
    const view = await lab.waitForSubmission(id);
    expect(view.result).toBe('passed');
    expect((await other.submission(id)).result).toBe('passed');
    expect((await other.submissions({ q: 'on-postgres' })).submissions.map((s) => s.id)).toEqual([id]);
    // Its tables hold it.
    const db = new pg.Client({ connectionString: lab.config.store.databaseUrl });
    await db.connect();
    const rows = await db.query<{ id: string; result: string; hosts: string[] }>(
      'SELECT id, result, hosts FROM submissions WHERE id = $1',
      [id],
    );
    const jobRows = await db.query<{ id: string; sealed: boolean; log_bytes: string }>(
      'SELECT id, sealed, log_bytes FROM jobs WHERE submission_id = $1',
      [id],
    );
    await db.end();
    expect(rows.rows).toEqual([{ id, result: 'passed', hosts: ['p1'] }]);
    expect(jobRows.rows).toEqual([{ id: jobs[0]!.id, sealed: true, log_bytes: String(Buffer.byteLength(followed)) }]);
  });

  it('testbay keep marks a submission to keep beyond retention, and --off unmarks it', async () => {
    const { id } = await lab.submit({ jobs: [osTest('kept', { MODULES: 'boot' })] });
    await lab.waitForSubmission(id);
    const env = { TESTBAY_URL: lab.api.baseUrl, TESTBAY_TOKEN: lab.tokens.submit, TESTBAY_DATA_DIR: lab.dir };
    const kept = await cli(['keep', id, '--json'], env);
    expect(kept.code, kept.stderr).toBe(0);
    expect(JSON.parse(kept.stdout)).toEqual({ id, keep: true });
    expect((await lab.api.submission(id)).keep).toBe(true);
    expect((await lab.api.submissions({ limit: '5' })).submissions.find((s) => s.id === id)?.keep).toBe(true);
    const off = await cli(['keep', id, '--off'], env);
    expect(off.stdout).toMatch(/no longer kept/);
    expect((await lab.api.submission(id)).keep).toBeUndefined();
    expect((await cli(['keep', 'zzzzzzzz'], env)).code).toBe(2);
  });

  it('has the daily testbay-retention schedule, whose workflow reports what it deleted', async () => {
    const handle = lab.temporal.schedule.getHandle(RETENTION_SCHEDULE_ID);
    const described = await handle.describe();
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow' });
    await handle.trigger();
    const run = await waitFor(
      'the retention run',
      async () => (await handle.describe()).info.recentActions.at(-1)?.action.workflow,
      20_000,
      200,
    );
    const report = (await lab.temporal.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result()) as {
      purgedJobs: number;
      deletedSubmissions: number;
      policy: { logsDays: number; recordsDays: number };
    };
    expect(report).toMatchObject({ purgedJobs: 0, deletedSubmissions: 0, policy: { logsDays: 30, recordsDays: 365 } });
  });
});
