/**
 * Reservations on a real lab whose parts run as their own processes: a failed job keeps its
 * host for its submitter (the host's reserve hooks run with the keys and the end time, the
 * job's dir stays, the scheduler shows the host reserved, a competing job waits), survives a
 * restart of the control worker, is extended within the cap and released from the CLI, and
 * ends by itself when its time is up; a host lent by hand (`testbay reserve`); a queued
 * job's priority changed (`testbay priority`); a job pinned to a host (`host:`); and the
 * refusals: over the cap, an extension of a job that ended, a host that does not exist, and
 * somebody else's token changing a reservation.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, TestbayClient } from '../../src/api/client.js';
import type { JobView, SubmissionView } from '../../src/domain/views.js';
import { cli } from '../helpers/cli.js';
import { TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
let dir: string;
let submitEnv: Record<string, string>;
let operateEnv: Record<string, string>;
/** a submit token of somebody else: it may not change the tester's reservation */
const OTHER = 'other-submitter-0123456789abcdef';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDtestkeytestkeytestkeytestkeytestkeyte tester@lab';

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-reservations-'));
  await fs.chmod(dir, 0o755);
  // The hooks record what they were given, where the test can read it.
  const hook = path.join(dir, 'hook.sh');
  await fs.writeFile(
    hook,
    `#!/bin/sh\necho "$1 job=$TESTBAY_JOB_ID until=$TESTBAY_RESERVE_UNTIL by=$TESTBAY_RESERVE_BY" >> "${dir}/hooks.log"\ncat "$TESTBAY_RESERVE_SSH_KEYS" >> "${dir}/hooks.log"\necho "connect: ssh debug@$TESTBAY_HOST"\n`,
    { mode: 0o755 },
  );
  const config = path.join(dir, 'r1.yaml');
  await fs.writeFile(config, `reserve:\n  startCommand: ["${hook}", "start"]\n  endCommand: ["${hook}", "end"]\n`);
  lab = await TestLab.start({
    name: 'reservations',
    separateProcesses: true,
    hosts: [
      { id: 'r1', config },
      { id: 'r2', caps: { slot: 'r2' } },
    ],
    env: {
      TESTBAY_MAX_RESERVE_MS: String(3 * 3_600_000),
      TESTBAY_MAX_LOAN_MS: String(2 * 3_600_000),
      TESTBAY_BROKEN_AFTER_ABORTS: '100',
      TESTBAY_LEASE_CHECK_MS: '2000',
    },
    extraTokens: [{ token: OTHER, role: 'submit', name: 'someone-else' }],
  });
  submitEnv = { TESTBAY_URL: lab.config.api.url, TESTBAY_TOKEN: lab.tokens.submit, TESTBAY_DATA_DIR: lab.dir };
  operateEnv = { ...submitEnv, TESTBAY_TOKEN: lab.tokens.operate };
});
afterEach(async () => {
  await lab.cancelRunning();
});
afterAll(async () => {
  await lab?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const sh = (name: string, script: string, extra: Record<string, unknown> = {}) => ({
  name,
  workerClass: 'local',
  runner: { command: ['sh', '-c', script] },
  timeoutMs: 120_000,
  ...extra,
});
const jobOf = (v: SubmissionView, name: string) => v.jobs.find((j) => j.name === name) as JobView;
const refusal = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
};
const hostState = async (id: string) => (await lab.host(id))?.state;

describe('a reservation after a job', () => {
  it("keeps a failed job's host for its submitter until released; a competing job waits; it survives a control worker restart", async () => {
    const { id, jobs } = await lab.submitter.submit({
      jobs: [
        sh('broken', 'echo debug-me > "$TESTBAY_RESULTS_DIR/state.txt"; echo scratch > work.txt; exit 1', {
          host: 'r1',
          reserve: { when: 'failed', durationMs: 3_600_000, sshKeys: [KEY] },
        }),
      ],
    });
    const jobId = jobs[0]!.id;
    const host = await waitFor(
      'r1 to be reserved',
      async () => {
        const h = await lab.host('r1');
        return h?.state === 'reserved' ? h : undefined;
      },
      60_000,
    );
    const r = host.lease!.reservation!;
    expect(r).toMatchObject({ kind: 'job', by: 'tester', jobId, submissionId: id });
    expect(r.why).toMatch(/^job `broken` failed/);
    expect(r.until - r.since).toBe(3_600_000);
    expect(r.startOutput).toContain('connect: ssh debug@r1');
    // The start hook got the job's environment, the keys and the end.
    const started = await fs.readFile(path.join(dir, 'hooks.log'), 'utf8');
    expect(started).toContain(`start job=${jobId} until=${new Date(r.until).toISOString()} by=tester`);
    expect(started).toContain(KEY);
    // The job's dirs stay for the person.
    expect(await fs.readFile(path.join(r.workDir!, 'work.txt'), 'utf8')).toBe('scratch\n');
    expect(await fs.readFile(path.join(r.resultsDir!, 'state.txt'), 'utf8')).toBe('debug-me\n');
    // The job itself is final: failed.
    expect(jobOf(await lab.api.submission(id), 'broken').result?.kind).toBe('failed');

    // How to connect, in `testbay job` and `testbay hosts`.
    const shown = await cli(['job', jobId], submitEnv);
    expect(shown.stdout).toMatch(/reserved +by tester until .* for job/);
    expect(shown.stdout).toContain('reserve hook: connect: ssh debug@r1');
    expect(shown.stdout).toContain(`work dir: ${r.workDir}`);
    const hosts = await cli(['hosts'], submitEnv);
    expect(hosts.stdout).toMatch(/r1 +reserved/);
    expect(hosts.stdout).toContain('reserve hook: connect: ssh debug@r1');

    // A competing job for that host waits, and says why.
    const competing = await lab.submitter.submit({ jobs: [sh('next', 'exit 0', { host: 'r1' })] });
    const waiting = await waitFor(
      'the competing job to say why it waits',
      async () => {
        const reason = jobOf(await lab.api.submission(competing.id), 'next').waitingReason;
        return reason?.includes('reserved') ? reason : undefined;
      },
      30_000,
    );
    expect(waiting).toMatch(
      /^host r1 \(the only host of class local\) is reserved by tester until .* \(job `broken` failed/,
    );

    // Durable: the reservation lives in the chain's workflow.
    await lab.restartPart('control');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await hostState('r1')).toBe('reserved');

    // Extend within the cap (3 h from its start): fine; past it: 400, and exit 2 from the CLI.
    const extended = await cli(['extend', jobId, '--by', '1h', '--json'], submitEnv);
    expect(extended.code, extended.stderr).toBe(0);
    expect((JSON.parse(extended.stdout) as { until: number }).until).toBe(r.until + 3_600_000);
    const over = await cli(['extend', jobId, '--by', '2h'], submitEnv);
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/above the cap of 3h/);
    // Somebody else's submit token may neither extend nor release it (403, saying whose it is); it stays as it was.
    const other = new TestbayClient(lab.config.api.url, OTHER);
    for (const change of [
      other.extendReservation({ jobId }, 60_000),
      other.releaseReservation({ jobId }),
      other.releaseReservation({ hostId: 'r1' }),
    ]) {
      const refused = await refusal(change);
      expect(refused.status).toBe(403);
      expect(refused.message).toMatch(
        /is reserved by tester: only they or an operate token may change its reservation/,
      );
    }
    expect(await hostState('r1')).toBe('reserved');
    // Released from the CLI by host: the end hook runs, the dir goes, the host serves the competing job.
    const released = await cli(['release', 'r1', '--json'], submitEnv);
    expect(released.code, released.stderr).toBe(0);
    const next = await lab.waitForSubmission(competing.id, 60_000);
    expect(jobOf(next, 'next').result?.kind).toBe('passed');
    expect(jobOf(next, 'next').hostId).toBe('r1');
    const first = await lab.waitForSubmission(id, 30_000);
    expect(first.result).toBe('failed');
    expect(await fs.readFile(path.join(dir, 'hooks.log'), 'utf8')).toContain(`end job=${jobId}`);
    await expect(fs.access(path.dirname(r.workDir!))).rejects.toThrow();

    // An extension of a job that ended: 409, exit 2.
    const late = await cli(['extend', jobId, '--by', '1h'], submitEnv);
    expect(late.code).toBe(2);
    expect(late.stderr).toMatch(/has ended \(failed\) and its host is not reserved/);
  });

  it('ends by itself when its time is up, and holds nothing for a result it does not ask for; submit --watch says what holds it open', async () => {
    const spec = path.join(dir, 'short.json');
    await fs.writeFile(
      spec,
      JSON.stringify({
        jobs: [
          sh('short', 'exit 75', { host: 'r1', reserve: { when: 'aborted', durationMs: 6_000 } }),
          sh('fine', 'exit 0', { host: 'r2', reserve: { when: 'failed' } }),
        ],
      }),
    );
    const watch = cli(['submit', spec, '--watch'], submitEnv, { timeoutMs: 90_000 });
    await waitFor('r1 to be reserved', async () => (await hostState('r1')) === 'reserved', 60_000);
    expect(await hostState('r2')).not.toBe('reserved');
    const watched = await watch;
    const id = watched.stdout.split('\n')[0]!;
    // The jobs ended before the submission did: the watch said why it went on, and how to end it.
    const lines = watched.stdout.split('\n');
    const kept = lines.findIndex((l) =>
      /short \[\S+\.1\] keeps r1 reserved by tester until \d{4}-\d\d-\d\d \d\d:\d\d UTC for job \S+ \(job `short` aborted.*\): the submission ends when it is released \(testbay release \S+\)$/.test(
        l,
      ),
    );
    expect(kept, watched.stdout).toBeGreaterThan(0);
    expect(lines.findIndex((l) => l.startsWith(`submission ${id}`))).toBeGreaterThan(kept);
    const done = await lab.waitForSubmission(id, 60_000);
    expect(jobOf(done, 'short').result?.kind).toBe('aborted');
    expect(jobOf(done, 'fine').result?.kind).toBe('passed');
    await waitFor('r1 back in the pool', async () => (await hostState('r1')) === 'idle', 30_000);
  });

  it('refuses a reservation over the cap and a pin to a host that does not exist or cannot take the job', async () => {
    const cap = await refusal(
      lab.submitter.submit({
        jobs: [sh('long', 'exit 1', { reserve: { when: 'failed', durationMs: 4 * 3_600_000 } })],
      }),
    );
    expect(cap.status).toBe(400);
    expect(cap.issues).toEqual([
      expect.objectContaining({
        path: ['jobs', 0, 'reserve', 'durationMs'],
        message: expect.stringMatching(/above this server's cap of 3h/),
      }),
    ]);
    const nowhere = await refusal(lab.submitter.submit({ jobs: [sh('lost', 'exit 0', { host: 'h9' })] }));
    expect(nowhere.issues).toEqual([
      expect.objectContaining({ path: ['jobs', 0, 'host'], message: 'host h9 is not in the lab (hosts: r1, r2)' }),
    ]);
    const unfit = await refusal(
      lab.submitter.submit({ jobs: [sh('unfit', 'exit 0', { host: 'r1', hostRequires: ['slot == r2'] })] }),
    );
    expect(unfit.issues).toEqual([
      expect.objectContaining({ path: ['jobs', 0, 'host'], message: 'host r1 does not satisfy slot == r2' }),
    ]);
    const badWhen = await refusal(
      lab.submitter.submit({ jobs: [sh('odd', 'exit 0', { reserve: { when: 'sometimes' } })] }),
    );
    expect(badWhen.issues[0]).toMatchObject({ path: ['jobs', 0, 'reserve', 'when'] });
  });
});

describe('a host lent by hand, and priorities', () => {
  it('lends an idle host, queues jobs behind it in priority order the operator changed, and gives it back when released', async () => {
    const lent = await cli(['reserve', 'r2', '--for', '1h', '--reason', 'bisecting a kernel', '--json'], submitEnv);
    expect(lent.code, lent.stderr).toBe(0);
    expect(JSON.parse(lent.stdout)).toMatchObject({
      kind: 'loan',
      by: 'tester',
      why: 'lent to tester: bisecting a kernel',
    });
    expect(await hostState('r2')).toBe('reserved');
    // Past the submit token's cap: 400 naming the field; a host that is not idle: 409.
    const long = await cli(['reserve', 'r1', '--for', '3h'], submitEnv);
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/forMs: 3h is above the cap of 2h for a submit token/);
    const busy = await cli(['reserve', 'r2', '--for', '1h'], submitEnv);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toMatch(/host r2 is reserved by tester/);

    const order = path.join(dir, 'order.log');
    const a = await lab.submitter.submit({ jobs: [sh('a', `echo a >> "${order}"`, { host: 'r2', priority: 60 })] });
    const b = await lab.submitter.submit({ jobs: [sh('b', `echo b >> "${order}"`, { host: 'r2', priority: 70 })] });
    const bJob = b.jobs[0]!.id;
    await waitFor('both to queue', async () => (await lab.api.hosts()).queue.length === 2, 30_000);
    // Raising is the operators' call; the submitter may lower.
    const raise = await cli(['priority', bJob, '55'], submitEnv);
    expect(raise.code).toBe(2);
    expect(raise.stderr).toMatch(/needs an operate token/);
    const lowered = await cli(['priority', a.jobs[0]!.id, '80', '--json'], submitEnv);
    expect(lowered.code, lowered.stderr).toBe(0);
    expect(JSON.parse(lowered.stdout)).toEqual({ id: a.jobs[0]!.id, previous: 60, priority: 80 });
    expect((await cli(['priority', bJob, '55'], operateEnv)).code).toBe(0);
    expect((await lab.api.hosts()).queue.find((q) => q.label.includes(b.id))?.priority).toBe(55);

    expect((await cli(['release', 'r2'], submitEnv)).code).toBe(0);
    await lab.waitForSubmission(a.id, 60_000);
    await lab.waitForSubmission(b.id, 60_000);
    expect(await fs.readFile(order, 'utf8')).toBe('b\na\n');
    // A job that ran is not queued: its priority stays.
    const ran = await cli(['priority', bJob, '90'], submitEnv);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(/not queued for a host/);
    expect(await hostState('r2')).toBe('idle');
  });
});
