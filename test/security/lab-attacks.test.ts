/**
 * A hostile submitter against a real lab (issue: "a hostile submitter cannot take over,
 * stop or poison the lab"), each attack reproduced and shown to fail safely:
 * - an upload token is nowhere in Temporal (histories, queries): it travels sealed;
 * - a secret reaches the runner's environment and nowhere else: Temporal, the result
 *   store's files, the API's views and the job's log hold ciphertext or a mask;
 * - durations that overflow a timer and settings past the kernel's limits are 400 at
 *   validation, and runners that crash by themselves break no host;
 * - a batch run's name in a path cannot leave the data dir (400);
 * - nobody, the control token included, overwrites a finished submission's final view.
 */
import type { SqlResultStore } from '../../src/api/store/sql-store.js';
import { bytes } from '../../src/api/store/sql/db.js';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEALED_PREFIX } from '../../src/sealing.js';
import { TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'attacks', hosts: [{ id: 'x1' }, { id: 'x2' }] });
});
afterAll(async () => {
  await lab?.stop();
});

const url = () => lab.api.baseUrl;
const call = (method: string, p: string, token: string, body?: unknown) =>
  fetch(`${url()}/api/v1${p}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });

/** Every string in a value, payload bytes decoded as UTF-8 (JSON.stringify would turn them into numbers). */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}

/** Everything Temporal holds of a submission's workflows and the scheduler, as text. */
async function temporalText(submissionId: string): Promise<string> {
  const parts: string[] = [];
  for await (const wf of lab.temporal.workflow.list({ query: `TestbaySubmission = "${submissionId}"` })) {
    parts.push(...strings(await lab.temporal.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory()));
  }
  parts.push(...strings(await lab.temporal.workflow.getHandle('testbay-scheduler').fetchHistory()));
  parts.push(JSON.stringify(await lab.api.hosts()));
  return parts.join('\n');
}

/** Every file of the lab's result store, as text. */
/** Everything the result store holds, as text: every row of every table, and every object. */
async function storeText(): Promise<string> {
  const { db } = lab.store as SqlResultStore;
  const tables = ['submissions', 'jobs', 'log_chunks', 'artifacts', 'batch_tests', 'batch_verdicts', 'late_reports'];
  const rows = await Promise.all(
    tables.map((t) => db.query<{ row: string }>(`SELECT to_jsonb(t)::text AS row FROM ${t} t`)),
  );
  // bytea rows come out as hex: decode the log chunks too.
  const chunks = await db.query<{ data: unknown }>('SELECT data FROM log_chunks');
  const root = path.join(lab.dir, 'objects');
  const files = (await fs.readdir(root, { recursive: true, withFileTypes: true }).catch(() => [])).filter((d) =>
    d.isFile(),
  );
  const texts = await Promise.all(
    files.map((d) => fs.readFile(path.join(d.parentPath, d.name), 'utf8').catch(() => '')),
  );
  return [...rows.flat().map((r) => r.row), ...chunks.map((c) => bytes(c.data).toString('utf8')), ...texts].join('\n');
}

describe('a hostile submitter', () => {
  it('finds no upload token in Temporal: it travels sealed, and the lab query shows none', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [{ name: 'held', workerClass: 'local', runner: { command: ['sh', '-c', 'sleep 30'] } }],
    });
    await waitFor('the job to run', async () => (await lab.api.job(jobs[0]!.id)).state === 'running');
    const record = (await lab.store.getJob(jobs[0]!.id))!;
    expect(record.leaseToken).toMatch(/^[A-Za-z0-9_-]{22}$/); // 128 random bits
    const seen = await temporalText(id);
    expect(seen.includes(record.leaseToken), 'the upload token is readable in Temporal').toBe(false);
    expect(seen).toContain(SEALED_PREFIX);
    // The lab query carries leases without their fencing token.
    const lease = (await lab.api.hosts()).hosts.find((h) => h.lease)!.lease!;
    expect(Object.keys(lease)).not.toContain('token');
    await lab.api.cancelSubmission(id);
    await lab.waitForSubmission(id);
  });

  it("gives a secret to the runner's environment only: sealed in Temporal and the store, masked in the log and every view", async () => {
    const secret = 'hunter2-correct-horse-battery';
    const script =
      'echo "the secret is $DEPLOY_KEY"; test "$DEPLOY_KEY" = "$EXPECTED_HASHLESS" || exit 9; echo seen-in-env';
    const view = await lab.run({
      defaults: { secrets: { DEPLOY_KEY: secret } },
      // The runner compares with a copy split in two, so the whole value is never in its argv or settings.
      jobs: [
        {
          name: 'uses-secret',
          workerClass: 'local',
          runner: { command: ['sh', '-c', `EXPECTED_HASHLESS="${secret.slice(0, 8)}$HALF"; ${script}`] },
          settings: { HALF: secret.slice(8) },
        },
      ],
    });
    expect(view.result).toBe('passed');
    const log = await lab.api.log(view.jobs[0]!.id);
    expect(log).toContain('the secret is ***');
    expect(log).toContain('seen-in-env');
    expect(log.includes(secret)).toBe(false);
    const plan = JSON.stringify(await lab.api.plan(view.id));
    expect(plan).toContain('"DEPLOY_KEY":"(secret)"');
    for (const text of [
      plan,
      JSON.stringify(await lab.api.submission(view.id)),
      JSON.stringify(await lab.api.job(view.jobs[0]!.id)),
      await temporalText(view.id),
      await storeText(),
    ]) {
      expect(text.includes(secret), 'the secret is readable').toBe(false);
    }
    // A sealed value copied into another submission does not open there.
    const stolen = /"DEPLOY_KEY":\s*"(sealed:v1:[A-Za-z0-9_-]+)"/.exec(await storeText())![1]!;
    const copied = await lab.run({
      jobs: [
        {
          name: 'copies',
          workerClass: 'local',
          runner: { command: ['sh', '-c', 'echo "$K"'] },
          secrets: { K: stolen },
        },
      ],
    });
    expect(await lab.api.log(copied.jobs[0]!.id)).not.toContain(secret);
  });

  it('cannot break hosts: overflowing durations and oversized settings are refused, and runners that crash by themselves count against no host', async () => {
    for (const field of ['timeoutMs', 'provisionTimeoutMs', 'queueTimeoutMs']) {
      const res = await call('POST', '/submissions', lab.tokens.submit, {
        jobs: [{ name: 'overflow', workerClass: 'local', runner: { command: ['true'] }, [field]: 2 ** 31 }],
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({
        issues: [{ path: ['jobs', 0, field], message: 'at most 604800000 ms (7 days)' }],
      });
    }
    const big = await call('POST', '/submissions', lab.tokens.submit, {
      jobs: [
        { name: 'e2big', workerClass: 'local', runner: { command: ['true'] }, settings: { HUGE: 'x'.repeat(200_000) } },
      ],
    });
    expect(big.status).toBe(400);
    expect(await big.json()).toMatchObject({
      issues: [{ path: ['jobs', 0, 'settings', 'HUGE'], message: expect.stringMatching(/^at most 32768 bytes/) }],
    });
    const many = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`S${i}`, 'y'.repeat(30_000)]));
    const total = await call('POST', '/submissions', lab.tokens.submit, {
      jobs: [{ name: 'e2big', workerClass: 'local', runner: { command: ['true'] }, settings: many }],
    });
    expect(total.status).toBe(400);
    expect(await total.json()).toMatchObject({
      issues: [
        {
          path: ['jobs', 0, 'settings'],
          message: expect.stringMatching(/^runner argv, settings and secrets take \d+ bytes, above the 262144/),
        },
      ],
    });

    // Three submissions whose runners kill themselves: their own doing, not the hosts'.
    const crashes = await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        lab.run({
          jobs: [{ name: `segv-${n}`, workerClass: 'local', runner: { command: ['sh', '-c', 'kill -SEGV $$'] } }],
        }),
      ),
    );
    for (const v of crashes) expect(v.jobs[0]!.result).toMatchObject({ kind: 'aborted', cause: 'runner-crash' });
    for (const h of (await lab.api.hosts()).hosts) {
      expect(h.state, `${h.id}: ${h.broken?.reason}`).toBe('idle');
      expect(h.consecutiveAborts).toBe(0);
    }
  });

  it('cannot reach outside the data dir through a batch run name, even with the control token', async () => {
    const { id } = await lab.run({ jobs: [{ name: 'x', workerClass: 'local', runner: { command: ['true'] } }] });
    for (const name of ['..%2F..%2Fescape', '..%2Fescape', 'a%2Fb', '.hidden']) {
      const res = await call('PUT', `/internal/batch-runs/${id}/${name}/tests`, lab.tokens.control, { tests: ['t1'] });
      expect(res.status, name).toBe(400);
    }
    await expect(fs.access(path.join(lab.dir, 'escape.tests.json'))).rejects.toThrow();
    await expect(fs.access(path.join(lab.dir, '..', 'escape.tests.json'))).rejects.toThrow();
  });

  it("cannot overwrite a finished submission's final view, not even with the control token", async () => {
    const view = await lab.run({
      jobs: [{ name: 'done', workerClass: 'local', runner: { command: ['sh', '-c', 'exit 1'] } }],
    });
    expect(view.result).toBe('failed');
    const forged = { ...view, result: 'passed', jobs: view.jobs.map((j) => ({ ...j, result: { kind: 'passed' } })) };
    const res = await call('PUT', `/internal/submissions/${view.id}`, lab.tokens.control, forged);
    expect(res.status).toBe(409);
    expect((await lab.api.submission(view.id)).result).toBe('failed');
  });
});
