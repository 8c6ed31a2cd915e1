/**
 * `testbay dev` survives the death of any one of its processes. One real embedded lab (its
 * own data dir, ports and Temporal dev server): under a running job a host, the control
 * worker, the API and the Temporal dev server are each killed with SIGKILL once. Each is
 * logged with its signal and restarted, the job ends right (the killed host's job is
 * retried on another host; the others pass, or pass on a retry), the restarted host is
 * online again and the lab still runs a job. Then a host killed 5 times within a minute is
 * left down with a message, the lab goes on without it, and SIGTERM stops every process
 * (SIGINT does in test/e2e/dev.test.ts).
 * Short timeouts come from the environment (the product's defaults are longer).
 */
import fs from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { DevLab, timedJob } from '../helpers/dev-lab.js';
import { TEST_ENV, waitFor } from '../helpers/lab.js';
import { processesUsing } from '../helpers/processes.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

const ALL_HOSTS = ['local-1', 'local-2', 'local-3'];

describe('testbay dev supervises its processes', () => {
  it('restarts a killed host, control worker, API and Temporal server; every job ends right and the lab runs on', async () => {
    const lab = await DevLab.start({ ...TEST_ENV, TESTBAY_RESTART_DELAY_MS: '200' }, { prefix: 'testbay-supervise-' });
    dirs.push(lab.dataDir);
    try {
      expect(lab.output).toMatch(
        /processes\s+temporal \d+, api \d+, control \d+, local-1 \d+, local-2 \d+, local-3 \d+/,
      );
      const killed = async (part: string) => {
        const pid = lab.pidOf(part);
        const times = await lab.kill(part);
        expect(lab.supervisorLines().join('\n')).toContain(
          `WARN  dev: ${part} exited unexpectedly (signal SIGKILL); restarting it in 200 ms`,
        );
        expect(lab.pidOf(part)).not.toBe(pid);
        return times;
      };

      // A host dies mid-job: the job is retried on another host, and the host comes back online.
      const onHost = await lab.startJob(timedJob('host-killed'));
      const instance = await lab.onlineInstance(onHost.hostId);
      const { killedAt: hostKilledAt } = await killed(onHost.hostId);
      // The new process registers under a fresh instance id, and the scheduler lists it online.
      await lab.registeredAgain(onHost.hostId, instance);
      const hostView = await lab.ended(onHost.id);
      const [first, retry] = [...hostView.jobs].sort((a, b) => a.attempt - b.attempt);
      expect(first?.result).toMatchObject({ kind: 'aborted', cause: 'host-lost' });
      expect(first?.hostId).toBe(onHost.hostId);
      expect(retry?.result?.kind).toBe('passed');
      expect(retry?.clonedFrom).toBe(first?.id);
      expect(retry?.hostId).not.toBe(onHost.hostId);
      expect(hostView.result).toBe('passed');
      // Within the failover time: the heartbeat timeout (3 s here), a new lease, provisioning
      // (a loose bound for a loaded machine; bench/dev-supervision measures it).
      const failoverMs = new Date(retry!.startedAt!).getTime() - hostKilledAt;
      expect(failoverMs).toBeLessThan(Number(TEST_ENV.TESTBAY_HEARTBEAT_TIMEOUT_MS) + 7_000);
      expect(await lab.online()).toEqual(ALL_HOSTS);
      const listed = JSON.parse((await cli(['hosts', '--json'], { TESTBAY_DATA_DIR: lab.dataDir })).stdout) as {
        hosts: { id: string; online: boolean; state: string }[];
      };
      expect(listed.hosts.find((h) => h.id === onHost.hostId)).toMatchObject({ online: true, state: 'idle' });

      // The control worker, the API and the Temporal server die mid-job: each job still passes
      // (after Temporal's restart a heartbeat may have timed out: then its retry passes).
      const timings: string[] = [`host ${onHost.hostId} killed → the retry started ${failoverMs} ms`];
      for (const part of ['control', 'api', 'temporal']) {
        const started = await lab.startJob(timedJob(`${part}-killed`));
        const { killedAt, runningAgainAt } = await killed(part);
        timings.push(`${part} killed → running again ${runningAgainAt - killedAt} ms`);
        const view = await lab.ended(started.id);
        expect(view.result, `${part}: ${JSON.stringify(view.jobs)}`).toBe('passed');
        if (part !== 'temporal') expect(view.jobs).toHaveLength(1);
      }
      // The API came back on its port; the lab still runs a job from the CLI.
      expect((await fetch(`http://127.0.0.1:${lab.env.TESTBAY_PORT}/api/v1/health`)).ok).toBe(true);
      await waitFor('every host online', async () => (await lab.online()).join() === ALL_HOSTS.join(), 30_000, 250);
      const hello = await cli(['submit', 'examples/hello.yaml', '--watch'], { TESTBAY_DATA_DIR: lab.dataDir });
      expect(hello.code).toBe(0);

      // A host that fails 5 times within a minute is left down; the lab goes on without it.
      let lastPid: number | undefined;
      await waitFor(
        'local-3 to be left down',
        () => {
          if (lab.supervisorLines().some((l) => l.includes('local-3 failed 5 times'))) return true;
          const pid = lab.pidOf('local-3');
          if (pid !== undefined && pid !== lastPid) {
            lastPid = pid;
            process.kill(pid, 'SIGKILL');
          }
          return false;
        },
        60_000,
        20,
      );
      expect(lab.supervisorLines().join('\n')).toMatch(
        /ERROR dev: local-3 failed 5 times within 60 s \(last: signal SIGKILL\); leaving it down, the lab goes on without it/,
      );
      await waitFor(
        'local-3 to be offline',
        async () => (await lab.online()).join() === 'local-1,local-2',
        30_000,
        250,
      );
      expect(lab.pidOf('local-3')).toBeUndefined();
      const after = await lab.api.submit(timedJob('without-local-3', 200));
      const afterView = await lab.ended(after.id);
      expect(afterView.result).toBe('passed');
      expect(['local-1', 'local-2']).toContain(afterView.jobs[0]?.hostId);
      console.log(`dev supervision: ${timings.join(', ')}`);
    } finally {
      await lab.stop('SIGTERM');
    }
    const ended = await lab.stop();
    expect(ended.stderr).toMatch(/SIGTERM: stopping the lab/);
    expect(ended.code).toBe(0);
    expect(processesUsing(lab.dataDir)).toEqual([]);
  }, 300_000);
});
