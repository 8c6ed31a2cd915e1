/**
 * A host registers what it is and whether it can work: worker classes and capabilities
 * from a config file, flags and detection; hostname and address for `testbay hosts`; the
 * same host again after a restart (no duplicate); and a broken setup (runner path missing,
 * a required command missing, work dir unusable, too little free space) reported as a
 * broken host before it takes any job.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { primaryAddress } from '../../src/workers/host.js';
import { cli } from '../helpers/cli.js';
import { BIN, osTest, RUNNER_PATH, TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'register', hosts: [{ id: 'r1', caps: { slot: 'r1' } }] });
});
afterAll(async () => {
  await lab?.stop();
});

/** Starts `testbay host` with exactly these arguments and waits until the scheduler has it. */
async function startHostWith(hostId: string, args: string[], env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'host', ...args], {
    env: { ...process.env, ...lab.env, ...env, TESTBAY_HOST_TOKEN: lab.tokens.host },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = createWriteStream(path.join(lab.outputDir, `${hostId}.log`), { flags: 'a' });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  lab.hosts.set(hostId, child);
  await waitFor(`host ${hostId} to register`, async () => {
    if (child.exitCode !== null)
      throw new Error(`host ${hostId} exited with ${child.exitCode}; see ${String(out.path)}`);
    return (await lab.host(hostId))?.online;
  });
  return child;
}

const hostsCli = () =>
  cli(['hosts'], { TESTBAY_URL: lab.env.TESTBAY_URL!, TESTBAY_TOKEN: lab.tokens.submit, NO_COLOR: '1' });

describe('a host registers', () => {
  it('with classes and capabilities from its config file, flags over the file, and detected ones', async () => {
    const file = path.join(lab.dir, 'cfg-host.yaml');
    await fs.writeFile(
      file,
      [
        'id: cfg1',
        'classes: [local, qemu_x86_64]',
        'caps:',
        '  memory_gb: 1',
        '  gpu: none',
        '  rack: 7',
        'workDir: hosts/cfg1',
        `runnerPath: [${JSON.stringify(RUNNER_PATH)}]`,
        '',
      ].join('\n'),
    );
    await startHostWith('cfg1', ['--config', file, '--class', 'ipmi', '--cap', 'gpu=a100']);
    const host = (await lab.host('cfg1'))!;
    expect(host.state).toBe('idle');
    expect(host.workerClasses).toEqual(['local', 'qemu_x86_64', 'ipmi']);
    expect(host.capabilities).toMatchObject({
      memory_gb: '1',
      gpu: 'a100',
      rack: '7',
      hostname: os.hostname(),
      cpus: String(os.cpus().length),
    });
    expect(host.capabilities.arch).toMatch(/^(x86_64|aarch64|\w+)$/);
    expect(host.hostname).toBe(os.hostname());
    expect(host.address).toBe(primaryAddress());
    await expect(fs.stat(path.join(lab.dir, 'hosts', 'cfg1', 'jobs'))).resolves.toBeTruthy();
    // A job can require what the file said.
    const view = await lab.run({
      jobs: [osTest('on-cfg', { MODULES: 'boot', SCREENSHOTS: '0' }, { hostRequires: ['rack == 7'] })],
    });
    expect(view.jobs[0]).toMatchObject({ hostId: 'cfg1', result: { kind: 'passed' } });
    await lab.stopHost('cfg1');
  });

  it('with the address its config file or --address gives (where partners reach it), the flag over the file', async () => {
    const file = path.join(lab.dir, 'addr-host.yaml');
    await fs.writeFile(
      file,
      ['id: addr1', 'classes: [local]', 'address: h-addr1.lab.example', `workDir: hosts/addr1`, ''].join('\n'),
    );
    await startHostWith('addr1', ['--config', file]);
    expect((await lab.host('addr1'))!.address).toBe('h-addr1.lab.example');
    await lab.stopHost('addr1');
    const first = (await lab.host('addr1'))!.instanceId;
    await startHostWith('addr1', ['--config', file, '--address', '10.9.8.7']);
    // Its registration, not the one before it (still online until it is seen to be gone).
    const again = await waitFor('addr1 registered again', async () => {
      const h = await lab.host('addr1');
      return h && h.instanceId !== first ? h : undefined;
    });
    expect(again.address).toBe('10.9.8.7');
    await lab.stopHost('addr1');
    const bad = await cli(['host', '--config', file, '--address', 'not an address'], {
      ...lab.env,
      TESTBAY_HOST_TOKEN: lab.tokens.host,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--address not an address: must be a host name or an IP address');
  });

  it('again after a restart, as the same host (no duplicate)', async () => {
    const before = (await lab.host('r1'))!;
    await lab.stopHost('r1');
    await waitFor('r1 to be offline', async () => (await lab.host('r1'))?.state === 'offline');
    await lab.startHost({ id: 'r1', caps: { slot: 'r1' } });
    const { hosts } = await lab.api.hosts();
    expect(hosts.filter((h) => h.id === 'r1')).toHaveLength(1);
    const after = hosts.find((h) => h.id === 'r1')!;
    expect(after.instanceId).not.toBe(before.instanceId);
    expect(after.state).toBe('idle');
  });

  it('with its hostname and address, shown by `testbay hosts`', async () => {
    const { code, stdout } = await hostsCli();
    expect(code).toBe(0);
    expect(stdout).toMatch(
      new RegExp(`^r1\\s+idle\\s+local\\s+${os.hostname()} ${primaryAddress().replaceAll('.', '\\.')}`, 'm'),
    );
  });
});

describe('a host with a broken setup', () => {
  it('is broken, saying why, when a runner path or a required command is missing, and takes no job', async () => {
    await startHostWith('nopath', [
      '--id',
      'nopath',
      '--class',
      'local',
      '--cap',
      'slot=nopath',
      '--work-dir',
      path.join(lab.dir, 'hosts', 'nopath'),
      '--runner-path',
      '/nonexistent/runners',
      '--require-command',
      'no-such-tool',
      '--require-command',
      'sh',
    ]);
    const host = (await lab.host('nopath'))!;
    expect(host.state).toBe('broken');
    expect(host.broken!.reason).toBe(
      'broken setup: runner path /nonexistent/runners does not exist; required command `no-such-tool` is not on the runner PATH',
    );
    const { stdout } = await hostsCli();
    expect(stdout).toMatch(/^nopath\s+broken\s+.*broken setup: runner path \/nonexistent\/runners does not exist/m);

    const { id } = await lab.submit({ jobs: [osTest('waits', {}, { hostRequires: ['slot == nopath'] })] });
    const waiting = await waitFor(
      'the waiting reason',
      async () => (await lab.api.submission(id)).jobs[0]!.waitingReason?.match(/broken/) ?? undefined,
    );
    expect(waiting.input).toMatch(/host nopath .* is broken \(broken setup: runner path/);
    await lab.api.cancelSubmission(id, 'test over');
    await lab.waitForSubmission(id);
    await lab.stopHost('nopath');
  });

  it('is broken when its work dir cannot be created or written', async () => {
    await fs.mkdir(path.join(lab.dir, 'hosts'), { recursive: true });
    await fs.writeFile(lab.workDirOf('nodir'), 'a file where the work dir should be');
    await lab.startHost({ id: 'nodir', env: { TESTBAY_CACHE_DIR: path.join(lab.dir, 'nodir-cache') } });
    const host = (await lab.host('nodir'))!;
    expect(host.state).toBe('broken');
    expect(host.broken!.reason).toBe(
      `broken setup: work dir ${path.join(lab.workDirOf('nodir'), 'jobs')} is not writable: ENOTDIR`,
    );
    await lab.stopHost('nodir');
  });

  it('is broken when its disk has less free space than TESTBAY_MIN_FREE_BYTES', async () => {
    await lab.startHost({ id: 'full', env: { TESTBAY_MIN_FREE_BYTES: String(2 ** 52) } });
    const host = (await lab.host('full'))!;
    expect(host.state).toBe('broken');
    expect(host.broken!.reason).toMatch(
      /^broken setup: only [\d.]+ GiB free for the work dir .*full\/jobs \(TESTBAY_MIN_FREE_BYTES wants 4194304 GiB\)$/,
    );
    await lab.stopHost('full');
  });
});
