/**
 * What a host does while a job runs, on a real lab: it follows the runner's status (fd 3
 * or the progress file), uploads finished tests and screenshots as they appear (PNGs
 * optimised losslessly), and on SIGTERM lets the running job finish within the shutdown
 * deadline, or stops one that outlives it with "host … shutting down", leaving no process
 * and no lease behind.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { decode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupMembers, isPidLive as isAlive } from '../../src/activities/host/process-group.js';
import { osTest, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'run-duties',
    hosts: [
      { id: 'u1', caps: { slot: 'u1' } },
      { id: 'u2', caps: { slot: 'u2' } },
    ],
  });
});
afterAll(async () => {
  await lab?.stop();
});

const on = (slot: string) => ({ hostRequires: [`slot == ${slot}`] });

describe('while a job runs, its host', () => {
  it('uploads each finished test and each new screenshot, optimised, before the runner ends', async () => {
    const { id, jobs } = await lab.submit({ jobs: [osTest('hangs', { HANG_MODULE: 'login' }, on('u1'))] });
    const jobId = jobs[0]!.id;
    const live = await waitFor('boot and install results while the runner hangs in login', async () => {
      const job = await lab.api.job(jobId);
      const names = job.artifacts.map((a) => a.name);
      return job.state === 'running' &&
        job.progress?.module === 'login' &&
        job.tests.length === 2 &&
        names.includes('screenshots/install.png')
        ? job
        : undefined;
    });
    expect(live.tests.map((t) => `${t.name}:${t.status}`)).toEqual(['boot:passed', 'install:passed']);
    expect(live.tests[0]!.durationMs).toBeGreaterThan(0);

    const onHost = await fs.readFile(
      path.join(lab.workDirOf('u1'), 'jobs', jobId, 'results', 'screenshots', 'boot.png'),
    );
    const uploaded = await lab.api.artifact(jobId, 'screenshots/boot.png');
    expect(uploaded.length).toBeLessThan(onHost.length);
    expect(Buffer.from(decode(uploaded).data)).toEqual(Buffer.from(decode(onHost).data));

    await lab.api.cancelSubmission(id, 'seen enough');
    expect((await lab.waitForSubmission(id)).result).toBe('cancelled');
  });

  it('records the bytes PNG optimisation saved for a finished job', async () => {
    const { id, jobs } = await lab.submit({ jobs: [osTest('shots', {}, on('u1'))] });
    expect((await lab.waitForSubmission(id)).result).toBe('passed');
    const record = (await lab.store.getJob(jobs[0]!.id))!;
    const onHost = await Promise.all(
      ['boot', 'install', 'login'].map((m) =>
        fs.stat(path.join(lab.workDirOf('u1'), 'jobs', jobs[0]!.id, 'results', 'screenshots', `${m}.png`)),
      ),
    );
    const sent = record.artifacts.filter((a) => a.name.endsWith('.png')).reduce((s, a) => s + a.sizeBytes, 0);
    expect(record.savedBytes).toBe(onHost.reduce((s, f) => s + f.size, 0) - sent);
    expect(record.savedBytes).toBeGreaterThan(10_000);
    // Reported: in the job's API view and by `testbay job`.
    expect((await lab.api.job(jobs[0]!.id)).savedBytes).toBe(record.savedBytes);
  });

  it("follows a shell runner's status lines in TESTBAY_PROGRESS_FILE, and a test it reports failed fails the job", async () => {
    const script = [
      'echo \'{"module": "flash", "percent": 40}\' >> "$TESTBAY_PROGRESS_FILE"',
      'echo \'{"test": {"name": "flash-firmware", "status": "passed", "durationMs": 5}}\' >> "$TESTBAY_PROGRESS_FILE"',
      'printf \'{"test": {"name": "serial-console", "status": "failed", "message": "no login prompt"}}\\n\' >> "$TESTBAY_PROGRESS_FILE"',
      'sleep 2',
      'echo done',
    ].join('; ');
    const { id, jobs } = await lab.submit({
      jobs: [{ name: 'board', workerClass: 'local', runner: { command: ['sh', '-c', script] }, ...on('u2') }],
    });
    const seen = await waitFor('the progress from the file', async () => {
      const job = await lab.api.job(jobs[0]!.id);
      return job.progress?.module === 'flash' && job.tests.length === 2 ? job : undefined;
    });
    expect(seen.progress).toEqual({ module: 'flash', percent: 40 });
    const view = await lab.waitForSubmission(id);
    expect(view.jobs[0]!.result).toEqual({ kind: 'failed', reason: '1 of 2 tests failed: `serial-console`' });
    const job = await lab.api.job(jobs[0]!.id);
    expect(job.tests).toEqual([
      { name: 'flash-firmware', status: 'passed', durationMs: 5 },
      { name: 'serial-console', status: 'failed', message: 'no login prompt' },
    ]);
  });
});

describe('a host told to shut down (SIGTERM)', () => {
  it('lets the running job finish within the deadline, then exits and releases the lease', async () => {
    // The lab's deadline is 2 s; this job needs about 1 s more once it runs.
    const { id, jobs } = await lab.submit({
      jobs: [osTest('short', { MODULES: 'boot,install,login', MODULE_MS: '350' }, on('u1'))],
    });
    await waitFor(
      'the runner in boot',
      async () => (await lab.api.job(jobs[0]!.id)).progress?.module === 'boot',
      30_000,
      50,
    );
    const stopping = lab.stopHost('u1', 'SIGTERM');
    const view = await lab.waitForSubmission(id);
    expect(view.jobs[0]!.result).toEqual({ kind: 'passed' });
    expect((await lab.api.job(jobs[0]!.id)).tests.map((t) => t.name)).toEqual(['boot', 'install', 'login']);
    await stopping; // the host exits once its job is done
    const host = await waitFor('u1 to be offline', async () => {
      const h = await lab.host('u1');
      return h?.state === 'offline' ? h : undefined;
    });
    expect(host.lease).toBeUndefined();
  });

  it('aborts the running job after the deadline with "host … shutting down", leaves no process and releases the lease', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [osTest('long', { HANG_MODULE: 'install', STUBBORN_CHILD: '1' }, on('u2'))],
    });
    const jobId = jobs[0]!.id;
    await waitFor('the runner in install', async () => (await lab.api.job(jobId)).progress?.module === 'install');
    const pgid = Number(await fs.readFile(path.join(lab.workDirOf('u2'), 'runners', `${jobId}.pid`), 'utf8'));
    const stubborn = Number(
      await waitFor('the grandchild', () =>
        fs
          .readFile(path.join(lab.workDirOf('u2'), 'jobs', jobId, 'results', 'stubborn.pid'), 'utf8')
          .catch(() => undefined),
      ),
    );

    await lab.stopHost('u2', 'SIGTERM'); // returns once the host process exited
    const view = await lab.waitForSubmission(id);
    expect(view.jobs[0]!.result).toEqual({ kind: 'aborted', cause: 'host-shutdown', reason: 'host u2 shutting down' });
    expect(groupMembers(pgid)).toEqual([]);
    expect(isAlive(stubborn)).toBe(false);
    expect(await lab.api.log(jobId)).toMatch(/hanging/);

    const host = await waitFor('u2 to be offline', async () => {
      const h = await lab.host('u2');
      return h?.state === 'offline' ? h : undefined;
    });
    expect(host.lease).toBeUndefined();
    const { hosts, queue } = await lab.api.hosts();
    expect(hosts.filter((h) => h.lease)).toEqual([]);
    expect(queue).toEqual([]);
  });
});
