/**
 * Webhooks, commit statuses and the audit log against the real lab (a Temporal dev
 * server, the control worker, host processes) and a real HTTP receiver on loopback that
 * verifies every signature. The receiver refuses a subscription's first delivery with
 * 503 and hangs on another's: each is retried by the delivery workflow's policy (short
 * here, from the environment), in event order, and the delivery log says so.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifyClient } from '../../src/api/notify-client.js';
import { verifySignature } from '../../src/api/notify/signature.js';
import { ApiError } from '../../src/api/client.js';
import { cli } from '../helpers/cli.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  answered: number | 'hung';
}

/** The receiver: what each path answers, call by call (after the list: 200). */
class Receiver {
  readonly received: Received[] = [];
  private readonly plans = new Map<string, (number | 'hang')[]>();
  private readonly hanging: http.ServerResponse[] = [];
  private server!: http.Server;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const next = this.plans.get(path)?.shift() ?? 200;
        this.received.push({
          path,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
          answered: next === 'hang' ? 'hung' : next,
        });
        if (next === 'hang') {
          this.hanging.push(res);
          return;
        }
        res.writeHead(next, { 'content-type': 'text/plain' }).end(next === 503 ? 'busy, try later' : 'ok');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  plan(path: string, answers: (number | 'hang')[]): void {
    this.plans.set(path, answers);
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const receiver = new Receiver();
const STATUS_TOKEN = 'commit-status-token-of-the-test';
let lab: TestLab;
let notify: ReturnType<typeof notifyClient>;

beforeAll(async () => {
  await receiver.start();
  lab = await TestLab.start({
    name: 'webhooks',
    hosts: [{ id: 'w1' }, { id: 'w2' }],
    env: {
      TESTBAY_WEBHOOK_TIMEOUT_MS: '1500',
      TESTBAY_WEBHOOK_RETRY_INITIAL_MS: '300',
      TESTBAY_WEBHOOK_RETRY_MAX_MS: '1000',
      TESTBAY_WEBHOOK_RETRY_FOR_MS: '60000',
      TESTBAY_WEBHOOK_HOST_POLL_MS: '300',
      TESTBAY_WEBHOOK_REDRIVE_MS: '2000',
      TESTBAY_COMMIT_STATUS_URL: `${receiver.url}/gitea/api/v1`,
      TESTBAY_COMMIT_STATUS_TOKEN: STATUS_TOKEN,
    },
  });
  notify = notifyClient(lab.api);
});
afterAll(async () => {
  await lab?.stop();
  await receiver.stop();
});

const parse = (r: Received) =>
  JSON.parse(r.body) as {
    event: string;
    eventId: string;
    submission?: { id: string; result: string };
    job?: { id: string; result: { kind: string } };
    host?: { id: string };
    junitUrl?: string;
    links: Record<string, string>;
  };

describe('webhooks', () => {
  it('refuses a URL that is not http(s), naming the field, and needs the operate role', async () => {
    const err = await notify
      .addWebhook({ url: 'ftp://example.org/hook', events: ['job.done'] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(400);
    expect((err as ApiError).issues).toEqual([
      expect.objectContaining({ path: ['url'], message: expect.stringMatching(/http/) }),
    ]);
    const bad = await notify
      .addWebhook({ url: `${receiver.url}/x`, events: ['job.started' as never] })
      .catch((e: unknown) => e as ApiError);
    expect((bad as ApiError).issues?.[0]?.path).toEqual(['events', 0]);
    const submitter = notifyClient(lab.submitter);
    for (const call of [
      () => submitter.webhooks(),
      () => submitter.addWebhook({ url: `${receiver.url}/x`, events: ['job.done'] }),
      () => submitter.audit(),
      () => submitter.deliveries(),
    ]) {
      expect(((await call().catch((e: unknown) => e)) as ApiError).status).toBe(403);
    }
    // The CLI says the same, exit 2.
    const out = await cli(['webhook', 'add', 'file:///etc/passwd', '--events', 'job.done'], {
      TESTBAY_URL: lab.api.baseUrl,
      TESTBAY_TOKEN: lab.tokens.operate,
    });
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/url: must be an http/);
  });

  it('delivers signed events in order, retries a 503, and posts the commit status', async () => {
    receiver.plan('/hook', [503]);
    const { webhook, secret } = await notify.addWebhook({
      url: `${receiver.url}/hook`,
      events: ['submission.done', 'job.done'],
      filter: { name: ['ordered-*'] },
    });
    expect(secret).toMatch(/^whsec_/);
    expect(JSON.stringify(await notify.webhooks())).not.toContain(secret);
    const sha = 'a'.repeat(40);
    const { id, jobs } = await lab.submit({
      name: 'ordered-run',
      commit: { repo: 'lab/os', sha },
      jobs: [osTest('ordered-job')],
    });
    const view = await lab.waitForSubmission(id);
    expect(view.result).toBe('passed');
    // A submission the filter leaves out is not delivered.
    await lab.run({ name: 'other', jobs: [osTest('unrelated')] });

    const got = await waitFor(
      'job.done refused once, then job.done and submission.done',
      () => (receiver.at('/hook').filter((r) => r.answered === 200).length >= 2 ? receiver.at('/hook') : undefined),
      30_000,
    );
    for (const r of got) expect(verifySignature(secret, r.body, r.headers['x-testbay-signature'] as string)).toBe(true);
    expect(verifySignature('another secret', got[0]!.body, got[0]!.headers['x-testbay-signature'] as string)).toBe(
      false,
    );
    // In event order: the submission's end waited behind its job's refused delivery.
    expect(got.map((r) => [parse(r).event, r.answered])).toEqual([
      ['job.done', 503],
      ['job.done', 200],
      ['submission.done', 200],
    ]);
    expect(got[0]!.body).toBe(got[1]!.body);
    expect(got[0]!.headers['x-testbay-event-id']).toBe(`job.done:${jobs[0]!.id}`);
    const done = parse(got[2]!);
    expect(done.submission).toMatchObject({ id, result: 'passed' });
    expect(done.links.dashboard).toBe(`${lab.api.baseUrl}/submissions/${id}`);
    const junit = await fetch(done.junitUrl!, { headers: { authorization: `Bearer ${lab.tokens.submit}` } });
    expect(junit.headers.get('content-type')).toMatch(/xml/);
    expect(await junit.text()).toMatch(/<testsuite name="ordered-job"[\s\S]*<testcase name="boot"/);

    const log = (await notify.deliveries({ webhook: webhook.id })).deliveries;
    expect(log.map((d) => [d.event, d.state, d.attempts.map((a) => a.statusCode)])).toEqual([
      ['submission.done', 'delivered', [200]],
      ['job.done', 'delivered', [503, 200]],
    ]);
    expect(log[1]!.attempts[0]!.error).toMatch(/answered 503/);

    // The commit's statuses: pending, then success, with the token, in the commit-status API's format.
    const statuses = await waitFor('two commit statuses', () =>
      receiver.at(`/gitea/api/v1/repos/lab/os/statuses/${sha}`).length >= 2
        ? receiver.at(`/gitea/api/v1/repos/lab/os/statuses/${sha}`)
        : undefined,
    );
    expect(statuses.map((r) => (JSON.parse(r.body) as { state: string }).state)).toEqual(['pending', 'success']);
    expect(statuses[0]!.headers.authorization).toBe(`Bearer ${STATUS_TOKEN}`);
    expect(JSON.parse(statuses[1]!.body)).toMatchObject({
      context: 'testbay/ordered-run',
      target_url: `${lab.api.baseUrl}/submissions/${id}`,
    });

    // Any delivery can be re-sent: the same event id and body, a new delivery id.
    const { delivery } = await notify.resend(log[0]!.id);
    const again = await waitFor('the resend', () =>
      receiver.at('/hook').find((r) => r.headers['x-testbay-delivery'] === delivery.id),
    );
    expect(again.headers['x-testbay-event-id']).toBe(`submission.done:${id}`);
    expect(again.body).toBe(got[2]!.body);
    const audit = (await notify.audit({ action: 'delivery-resend' })).entries;
    expect(audit[0]).toMatchObject({ actor: 'operator', targetId: log[0]!.id, details: { as: delivery.id } });
  });

  it('cuts off a receiver that hangs and retries it', async () => {
    receiver.plan('/hang', ['hang']);
    const { webhook, secret } = await notify.addWebhook({
      url: `${receiver.url}/hang`,
      events: ['job.done'],
      filter: { name: ['hang-job'] },
    });
    await lab.run({ jobs: [osTest('hang-job')] });
    const got = await waitFor(
      'the retry after the cut-off',
      () => (receiver.at('/hang').length >= 2 ? receiver.at('/hang') : undefined),
      30_000,
    );
    expect(got.map((r) => r.answered)).toEqual(['hung', 200]);
    expect(verifySignature(secret, got[1]!.body, got[1]!.headers['x-testbay-signature'] as string)).toBe(true);
    const [d] = await waitFor('the delivery log', async () => {
      const l = (await notify.deliveries({ webhook: webhook.id })).deliveries;
      return l[0]?.state === 'delivered' ? l : undefined;
    });
    expect(d!.attempts[0]!.error).toMatch(/no answer within 1500 ms: cut off/);
    expect(d!.attempts[0]!.durationMs).toBeGreaterThanOrEqual(1400);
    expect(d!.attempts[1]!.statusCode).toBe(200);
  });

  it('tells of a broken host, and the audit log has who did it and from where', async () => {
    const { secret } = await notify.addWebhook({ url: `${receiver.url}/hosts`, events: ['host.broken'] });
    await lab.api.markBroken('w2', 'fan failure');
    const got = await waitFor('host.broken', () => receiver.at('/hosts')[0], 15_000);
    expect(verifySignature(secret, got.body, got.headers['x-testbay-signature'] as string)).toBe(true);
    expect(parse(got)).toMatchObject({
      event: 'host.broken',
      host: { id: 'w2', broken: { reason: 'fan failure', source: 'operator' } },
    });
    await lab.api.clearBroken('w2');
    await lab.api.setMaintenance('w2', true);
    await lab.api.setMaintenance('w2', false);
    const entries = (await notify.audit({ target: 'w2' })).entries;
    expect(entries.map((e) => [e.action, e.actor, e.details ?? null])).toEqual([
      ['maintenance', 'operator', { on: false }],
      ['maintenance', 'operator', { on: true }],
      ['clear-broken', 'operator', null],
      ['mark-broken', 'operator', { reason: 'fan failure' }],
    ]);
    expect(entries[0]!.address).toMatch(/127\.0\.0\.1/);
    // Only once per breakage, though the lab is polled again and again.
    await new Promise((r) => setTimeout(r, 1000));
    expect(receiver.at('/hosts')).toHaveLength(1);
  });

  it('audits a cancel and keep, and a cancelled run is a commit status error, never failure', async () => {
    const sha = 'b'.repeat(40);
    const { id, jobs } = await lab.submit({
      name: 'to-cancel',
      commit: { repo: 'lab/os', sha },
      jobs: [osTest('long', { MODULE_MS: '20000' })],
    });
    await waitFor('the job to run', async () => (await lab.api.job(jobs[0]!.id)).state === 'running');
    await lab.submitter.cancelJob(jobs[0]!.id, 'wrong build');
    const view = await lab.waitForSubmission(id);
    expect(view.result).toBe('cancelled');
    await lab.submitter.keep(id);
    const path = `/gitea/api/v1/repos/lab/os/statuses/${sha}`;
    const statuses = await waitFor('the final commit status', () =>
      receiver.at(path).length >= 2 ? receiver.at(path) : undefined,
    );
    expect(statuses.map((r) => (JSON.parse(r.body) as { state: string }).state)).toEqual(['pending', 'error']);
    const entries = (await notify.audit({ target: id, children: true })).entries;
    expect(entries.map((e) => [e.action, e.actor, e.targetKind, e.targetId])).toEqual([
      ['keep', 'tester', 'submission', id],
      ['cancel', 'tester', 'job', jobs[0]!.id],
    ]);
    expect(entries[1]!.details).toEqual({ reason: 'wrong build' });
    // The CLI lists them too.
    const out = await cli(['audit', '--target', id, '--json'], {
      TESTBAY_URL: lab.api.baseUrl,
      TESTBAY_TOKEN: lab.tokens.operate,
    });
    expect(out.code, out.stderr).toBe(0);
    expect((JSON.parse(out.stdout) as { entries: unknown[] }).entries).toHaveLength(2);
  });

  it('refuses a statusUrl outside the commit-status API (the token would go there)', async () => {
    const err = (await lab
      .submit({
        commit: { repo: 'lab/os', sha: 'c'.repeat(40), statusUrl: 'https://evil.example/steal' },
        jobs: [osTest('x')],
      })
      .catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(400);
    expect(err.issues).toEqual([expect.objectContaining({ path: ['commit', 'statusUrl'] })]);
  });

  it('manages subscriptions from the CLI', async () => {
    const env = { TESTBAY_URL: lab.api.baseUrl, TESTBAY_TOKEN: lab.tokens.operate };
    const added = await cli(
      [
        'webhook',
        'add',
        `${receiver.url}/cli`,
        '--events',
        'submission.done,host.broken',
        '--filter',
        'result=failed,aborted',
        '--json',
      ],
      env,
    );
    expect(added.code, added.stderr).toBe(0);
    const { webhook, secret } = JSON.parse(added.stdout) as {
      webhook: { id: string; filter: unknown };
      secret: string;
    };
    expect(webhook.filter).toEqual({ result: ['failed', 'aborted'] });
    expect(secret).toMatch(/^whsec_/);
    const listed = await cli(['webhook', 'list'], env);
    expect(listed.stdout).toContain(webhook.id);
    expect(listed.stdout).not.toContain(secret);
    const deleted = await cli(['webhook', 'delete', webhook.id], env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await notify.webhooks()).webhooks.map((w) => w.id)).not.toContain(webhook.id);
    const deliveries = await cli(['webhook', 'deliveries', '--json'], env);
    expect(deliveries.code, deliveries.stderr).toBe(0);
    expect((JSON.parse(deliveries.stdout) as { deliveries: unknown[] }).deliveries.length).toBeGreaterThan(0);
  });
});
