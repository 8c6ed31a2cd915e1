import { describe, expect, it } from 'vitest';
import { hostConfigSchema, mergeHostConfig } from '../../src/activities/host/host-config.js';
import { allocate, enqueue, hostState, newLab, registerHost, release } from '../../src/domain/lab.js';
import { needsRecovery, type JobResult } from '../../src/domain/outcome.js';
import { periodicCheckDue, periodicCheckOf } from '../../src/domain/health-check.js';
import type { Job } from '../../src/domain/job.js';
import { loadConfig } from '../../src/config.js';

const aborted = (cause: string): JobResult => ({ kind: 'aborted', cause: cause as never, reason: 'x' });

function leasedLab() {
  const lab = newLab('salt');
  registerHost(
    lab,
    { hostId: 'h1', instanceId: 'i', workerClasses: ['x'], capabilities: {}, hostname: 'h1', address: '127.0.0.1' },
    0,
  );
  enqueue(
    lab,
    {
      requestId: 'r',
      requester: 'r',
      label: 'r',
      priority: 50,
      recipes: [{ workerClass: 'x', hostRequires: [], excludedHosts: [], previousHosts: [] }],
    },
    0,
  );
  const [grant] = allocate(lab, 0);
  return { lab, token: grant!.leases[0]!.token };
}

describe('recovery after an abort', () => {
  it('is called for by infrastructure aborts on a host that is still there, not by verdicts or a lost host', () => {
    expect(
      ['runner-abort', 'run-timeout', 'no-output', 'provision', 'upload', 'setup-timeout'].map((c) =>
        needsRecovery(aborted(c)),
      ),
    ).toEqual([true, true, true, true, true, true]);
    expect(['host-lost', 'asset', 'host-shutdown', 'no-host-left'].map((c) => needsRecovery(aborted(c)))).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(needsRecovery({ kind: 'failed', reason: 'a test failed' })).toBe(false);
    expect(needsRecovery({ kind: 'passed' })).toBe(false);
  });

  it('keeps the host in the pool when it succeeded, and breaks it at once with its output when it failed', () => {
    const ok = leasedLab();
    const outcomes = [{ jobId: 's.1', job: 'a', result: aborted('runner-abort') }];
    expect(release(ok.lab, 'h1', ok.token, outcomes, 1, { ok: true, summary: 'recoverCommand succeeded' })).toEqual({
      released: true,
    });
    expect(hostState(ok.lab.hosts.h1!)).toBe('idle');

    const bad = leasedLab();
    const r = release(bad.lab, 'h1', bad.token, outcomes, 1, {
      ok: false,
      summary: 'recoverCommand `ipmitool` exited with 1: no BMC',
    });
    expect(r.broken).toBe('recovery failed: recoverCommand `ipmitool` exited with 1: no BMC');
    expect(bad.lab.hosts.h1!.broken).toMatchObject({ source: 'fault' });
  });
});

describe('host config hooks', () => {
  it('takes provision, recover and power commands as argv arrays from the file', () => {
    const file = hostConfigSchema.parse({
      provisionCommand: ['reimage', '--disk', 'sda'],
      recoverCommand: ['ipmitool', 'chassis', 'power', 'cycle'],
      powerCommand: ['pdu', 'port7'],
    });
    expect(mergeHostConfig(file, {})).toMatchObject({
      provisionCommand: ['reimage', '--disk', 'sda'],
      recoverCommand: ['ipmitool', 'chassis', 'power', 'cycle'],
      powerCommand: ['pdu', 'port7'],
    });
  });

  it('refuses a shell string or an empty command, naming the field', () => {
    const shell = hostConfigSchema.safeParse({ recoverCommand: 'ipmitool power cycle' });
    expect(shell.success || shell.error.issues[0]!.path).toEqual(['recoverCommand']);
    const empty = hostConfigSchema.safeParse({ powerCommand: [] });
    expect(empty.success || empty.error.issues[0]!.message).toBe('needs at least the program to run');
  });
});

describe('periodic health checks', () => {
  const host = { registeredAt: 0, lastCheckAt: 1_000, jobsSinceCheck: 3 };
  it('are due by time since the last check or by jobs since it, saying which', () => {
    expect(periodicCheckDue(host, undefined, 10 ** 9)).toBeUndefined();
    expect(periodicCheckDue(host, { everyMs: 86_400_000 }, 1_000 + 86_400_000)).toBe(
      'periodic: 24 h since the last check (everyMs)',
    );
    expect(periodicCheckDue(host, { everyMs: 86_400_000 }, 86_400_000)).toBeUndefined();
    expect(periodicCheckDue(host, { everyJobs: 3 }, 2_000)).toBe('periodic: 3 jobs since the last check (everyJobs)');
    expect(periodicCheckDue({ registeredAt: 0 }, { everyJobs: 3, everyMs: 60_000 }, 59_999)).toBeUndefined();
  });

  it('are due only on an idle, healthy host whose worker class has a check', () => {
    const checks = { qemu: { runner: { command: ['hc'] } } as unknown as Job };
    const every = { qemu: { everyJobs: 3 } };
    const idle = { ...host, workerClasses: ['qemu'], online: true, maintenance: false };
    expect(periodicCheckOf(idle, checks, every, 2_000)).toBe('periodic: 3 jobs since the last check (everyJobs)');
    expect(periodicCheckOf({ ...idle, workerClasses: ['arm'] }, checks, every, 2_000)).toBeUndefined();
    expect(periodicCheckOf({ ...idle, maintenance: true }, checks, every, 2_000)).toBeUndefined();
    expect(periodicCheckOf({ ...idle, online: false }, checks, every, 2_000)).toBeUndefined();
    expect(
      periodicCheckOf({ ...idle, broken: { reason: 'x', source: 'operator', at: 1 } }, checks, every, 2_000),
    ).toBeUndefined();
  });

  it('count jobs since the last check, and a check resets the count', () => {
    const { lab, token } = leasedLab();
    release(lab, 'h1', token, [], 5);
    expect(lab.hosts.h1!.jobsSinceCheck).toBe(1);
  });

  it('take everyMs and everyJobs beside the check job in TESTBAY_HEALTH_CHECKS', () => {
    const config = loadConfig({
      TESTBAY_HEALTH_CHECKS: JSON.stringify({
        qemu: { runner: { command: ['hc'] }, everyMs: 86_400_000, everyJobs: 50 },
      }),
    });
    expect(config.scheduler.healthCheckEvery).toEqual({ qemu: { everyMs: 86_400_000, everyJobs: 50 } });
    expect(config.scheduler.healthChecks.qemu?.runner.command).toEqual(['hc']);
    expect(() =>
      loadConfig({ TESTBAY_HEALTH_CHECKS: JSON.stringify({ qemu: { runner: { command: ['hc'] }, everyJobs: 0 } }) }),
    ).toThrow(/TESTBAY_HEALTH_CHECKS.*qemu: everyJobs/);
  });
});
