/**
 * Fault injection against a lab deployed as separate processes — its own Temporal dev
 * server (persisted to a file), the API, the control worker, and hosts — running real
 * jobs. Each fault strikes mid-run; afterwards every job must be in a correct final state,
 * every passed job's results complete and not duplicated (the stored log is byte for byte
 * what the runner wrote on its host, each test once, every screenshot), and no runner
 * process of the submission may be left alive.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubmissionView } from '../../src/domain/views.js';
import { latestAttempts } from '../../src/domain/views.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

const MODULES = ['boot', 'install', 'configure', 'login', 'desktop', 'shutdown'];
/** The object store's disk (the lab's `objects` folder): small, so a test can fill it. */
const STORE_DISK_BYTES = 64 * 1024 * 1024;

/** Can this process mount a tmpfs? Tried for real: root in a container may lack the right. */
function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'testbay-mount-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const mountable = canMount();
/** CI runs every fault: there a machine that cannot mount fails the full-disk test instead of skipping it. */
const mustRunAll = process.env.CI === 'true';

let lab: TestLab;
let storeDisk: string | undefined;

beforeAll(async () => {
  lab = await TestLab.start({
    name: 'faults',
    ownTemporal: true,
    separateProcesses: true,
    hosts: [{ id: 'f1' }, { id: 'f2' }, { id: 'f3' }],
    // A heartbeat timeout the restart of a Temporal server fits in, so only the faults
    // that should cost a host (kill -9, SIGSTOP) cost one.
    env: {
      TESTBAY_HEARTBEAT_TIMEOUT_MS: '8000',
      TESTBAY_HEARTBEAT_THROTTLE_MS: '500',
      TESTBAY_BROKEN_AFTER_ABORTS: '100',
    },
    prepare: async (dir) => {
      if (!mountable) return;
      storeDisk = path.join(dir, 'objects');
      await fs.mkdir(storeDisk, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${STORE_DISK_BYTES}`, 'tmpfs', storeDisk]);
      const disk = storeDisk;
      return () => {
        execFileSync('umount', ['-l', disk]);
        return Promise.resolve();
      };
    },
  });
}, 120_000);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

/** A chain of two jobs and a job of its own, each retried once on an infrastructure fault. */
function workload(tag: string, moduleMs = 500, extra: Record<string, string> = {}) {
  const settings = { MODULES: MODULES.join(','), MODULE_MS: String(moduleMs), LOG_LINES: '4', ...extra };
  return {
    name: tag,
    jobs: [
      osTest(`${tag}-a`, settings, { maxRetries: 1 }),
      osTest(`${tag}-b`, settings, { startDirectlyAfter: `${tag}-a` }),
      osTest(`${tag}-c`, settings, { maxRetries: 1 }),
    ],
  };
}

async function runningJob(id: string, name: string) {
  return waitFor(
    `${name} to run`,
    async () => {
      const view = await lab.api.submission(id);
      const job = view.jobs.find((j) => j.name === name && j.state === 'running' && j.progress);
      return job?.hostId ? job : undefined;
    },
    60_000,
    100,
  );
}

/** Processes whose environment says they run a job of this submission (or this job). */
function runnersOf(id: string): number[] {
  const variable = id.includes('.') ? 'TESTBAY_JOB_ID' : 'TESTBAY_SUBMISSION';
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${entry}/stat`, 'utf8'))) continue;
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`${variable}=${id}`))
        pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/**
 * Every job ended as it should: the latest attempt of each job passed with complete
 * results; earlier attempts were aborted for a typed cause and kept; nothing runs.
 */
async function expectIntact(view: SubmissionView): Promise<void> {
  expect(view.state).toBe('done');
  expect(view.result, JSON.stringify(view.jobs.map((j) => [j.name, j.attempt, j.result]))).toBe('passed');
  const latest = latestAttempts(view.jobs);
  expect(latest.map((j) => j.name).sort()).toEqual([...new Set(view.jobs.map((j) => j.name))].sort());
  for (const job of view.jobs) {
    if (latest.includes(job)) continue;
    // An earlier attempt stays what it was: aborted by the lab, never overwritten by a zombie.
    expect(job.result?.kind, `${job.id} ${JSON.stringify(job.result)}`).toBe('aborted');
    expect(job.result && 'cause' in job.result ? job.result.cause : undefined).toBeTruthy();
  }
  for (const job of latest) {
    const details = await lab.api.job(job.id);
    expect(details.result?.kind).toBe('passed');
    // Each test once, each passed.
    expect(details.tests.map((t) => t.name).sort(), job.id).toEqual([...MODULES].sort());
    expect(details.tests.every((t) => t.status === 'passed')).toBe(true);
    const artifacts = details.artifacts.map((a) => a.name);
    for (const m of MODULES) expect(artifacts, job.id).toContain(`screenshots/${m}.png`);
    expect(artifacts).toContain('junit.xml');
    // The stored log is exactly what the runner wrote on its host: nothing lost, nothing twice.
    const stored = await lab.api.log(job.id);
    const local = await fs.readFile(path.join(lab.workDirOf(job.hostId!), 'jobs', job.id, 'runner.log'), 'utf8');
    expect(stored.length, `${job.id}: stored ${stored.length} bytes, host wrote ${local.length}`).toBe(local.length);
    expect(stored === local, `${job.id}: the stored log differs from the host's`).toBe(true);
    expect(stored).toContain('all modules passed');
  }
  await waitFor(`no runner of ${view.id} to be left`, () => runnersOf(view.id).length === 0, 20_000, 200);
}

/** Waits until every host is idle again (a killed one restarted), so faults do not pile up. */
async function settle(): Promise<void> {
  await waitFor(
    'every host to be idle',
    async () => {
      const { hosts } = await lab.api.hosts();
      return hosts.length === 3 && hosts.every((h) => h.state === 'idle');
    },
    60_000,
    200,
  );
}

describe('faults injected into a running lab', () => {
  it('kill -9 of a host mid-job: its runner is stopped at once, the recipe set reruns elsewhere', async () => {
    // The runner forks a grandchild that ignores SIGTERM: only SIGKILL to the group ends it.
    const { id } = await lab.submit(workload('kill', 500, { STUBBORN_CHILD: '1' }));
    const victim = await runningJob(id, 'kill-a');
    expect(runnersOf(victim.id).length).toBeGreaterThan(1);
    lab.signalHost(victim.hostId!, 'SIGKILL');
    // The dead host's runner guard stops its runner group, grandchild and all, well before
    // Temporal notices the host is gone; nothing waits for the host to come back.
    await waitFor("the dead host's runner to be stopped", () => runnersOf(victim.id).length === 0, 10_000, 100);
    await waitFor(
      'the killed host to be offline',
      async () => (await lab.host(victim.hostId!))?.state === 'offline',
      30_000,
      200,
    );
    await lab.startHost({ id: victim.hostId! });
    const view = await lab.waitForSubmission(id, 120_000);
    const first = view.jobs.find((j) => j.id === victim.id)!;
    expect(first.result).toMatchObject({ kind: 'aborted', cause: 'host-lost' });
    const retry = view.jobs.find((j) => j.clonedFrom === victim.id)!;
    expect(retry.hostId).not.toBe(victim.hostId);
    await expectIntact(view);
    await settle();
  });

  it('restart of the Temporal server (same db file) mid-run: the jobs go on and pass', async () => {
    const { id } = await lab.submit(workload('temporal'));
    await runningJob(id, 'temporal-a');
    await runningJob(id, 'temporal-c');
    await lab.restartTemporal({ signal: 'SIGKILL', downMs: 500 });
    const view = await lab.waitForSubmission(id, 120_000);
    await expectIntact(view);
    await settle();
  });

  it('restart of the API mid-upload: hosts resume their uploads from what the store has', async () => {
    const { id } = await lab.submit(workload('api', 700));
    const job = await runningJob(id, 'api-a');
    await waitFor('part of the log to be uploaded', async () => (await lab.api.job(job.id)).logBytes > 0, 30_000, 100);
    await lab.restartPart('api', { signal: 'SIGKILL', downMs: 1_500 });
    const view = await lab.waitForSubmission(id, 120_000);
    // Nothing retried: an API outage is no host's fault.
    expect(view.jobs).toHaveLength(3);
    await expectIntact(view);
    await settle();
  });

  it('restart of the control worker mid-run: the workflows continue on the new one', async () => {
    const { id } = await lab.submit(workload('control'));
    await runningJob(id, 'control-a');
    await lab.restartPart('control', { signal: 'SIGKILL', downMs: 1_000 });
    const view = await lab.waitForSubmission(id, 120_000);
    expect(view.jobs).toHaveLength(3);
    await expectIntact(view);
    await settle();
  });

  it('SIGSTOP of a host past its heartbeat timeout, then SIGCONT: the retry keeps its results, the zombie stops its runner', async () => {
    const { id } = await lab.submit(workload('frozen', 1_500));
    const victim = await runningJob(id, 'frozen-a');
    lab.signalHost(victim.hostId!, 'SIGSTOP');
    try {
      await waitFor(
        'the clone to start',
        async () =>
          (await lab.api.submission(id)).jobs.some((j) => j.clonedFrom === victim.id && j.state === 'running'),
        60_000,
        200,
      );
    } finally {
      lab.signalHost(victim.hostId!, 'SIGCONT');
    }
    const view = await lab.waitForSubmission(id, 120_000);
    expect(view.jobs.find((j) => j.id === victim.id)!.result).toMatchObject({ kind: 'aborted', cause: 'host-lost' });
    await expectIntact(view);
    // The woken host's late uploads were refused: its attempt's record is still the abort.
    await sleep(1_000);
    expect((await lab.api.job(victim.id)).result).toMatchObject({ kind: 'aborted', cause: 'host-lost' });
    await settle();
  });

  it('a host that registers again before the scheduler saw its presence time out stays online', async () => {
    // The scheduler is slow (frozen) while a host freezes past its presence timeout, wakes,
    // finds its presence gone and registers again: the scheduler then learns of the
    // timeout and the new registration in one go, and must keep the host.
    const { hostId } = { hostId: 'f3' };
    const logFile = path.join(lab.outputDir, `${hostId}.log`);
    const before = (await fs.readFile(logFile, 'utf8')).split('registering again').length;
    const instanceBefore = (await lab.host(hostId))!.instanceId;
    lab.signalPart('control', 'SIGSTOP');
    try {
      lab.signalHost(hostId, 'SIGSTOP');
      await sleep(11_000);
      lab.signalHost(hostId, 'SIGCONT');
      await waitFor(
        'the host to register again',
        async () => (await fs.readFile(logFile, 'utf8')).split('registering again').length > before,
        30_000,
        200,
      );
      await waitFor(
        'the registration to reach Temporal',
        async () =>
          /registered with the scheduler/.test((await fs.readFile(logFile, 'utf8')).split('registering again').at(-1)!),
        30_000,
        200,
      );
    } finally {
      lab.signalPart('control', 'SIGCONT');
    }
    await waitFor(`${hostId} to be idle`, async () => (await lab.host(hostId))?.state === 'idle', 30_000, 200);
    // A new registration is a new instance: the old presence's timeout, however late it is
    // seen, names an instance that is gone and cannot take the host offline.
    expect((await lab.host(hostId))!.instanceId).not.toBe(instanceBefore);
    // And it stays so: no late timeout takes it offline.
    await sleep(3_000);
    expect((await lab.host(hostId))?.state).toBe('idle');
    const { id } = await lab.submit({ jobs: [osTest('after-freeze', { MODULES: 'boot' }, { hostRequires: [] })] });
    expect((await lab.waitForSubmission(id, 60_000)).result).toBe('passed');
  });

  it.skipIf(!mountable && !mustRunAll)(
    'a full object store disk: uploads are refused with 507 and resume once space is freed, losing nothing',
    async () => {
      if (!mountable)
        throw new Error(
          'the full-disk fault needs root and tmpfs mounts (mount -t tmpfs); run CI as root with CAP_SYS_ADMIN',
        );
      const { id } = await lab.submit(workload('disk', 700));
      const job = await runningJob(id, 'disk-a');
      await waitFor(
        'part of the log to be uploaded',
        async () => (await lab.api.job(job.id)).logBytes > 0,
        30_000,
        100,
      );
      // Fill the disk to the last byte.
      const filler = path.join(storeDisk!, 'filler');
      await fs.writeFile(filler, Buffer.alloc(STORE_DISK_BYTES)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOSPC') throw err;
      });
      // Uploads are refused now (507); the runner goes on writing on its host.
      await waitFor(
        'an upload to be refused for lack of space',
        async () => /result store is full/.test(await fs.readFile(path.join(lab.outputDir, 'api.log'), 'utf8')),
        20_000,
        200,
      );
      // The API still answers reads.
      expect((await lab.api.submission(id)).id).toBe(id);
      await sleep(1_000);
      await fs.rm(filler);
      const view = await lab.waitForSubmission(id, 120_000);
      expect(view.jobs).toHaveLength(3);
      await expectIntact(view);
    },
  );
});
