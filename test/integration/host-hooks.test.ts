/**
 * Power and recovery hooks for bare-metal hosts, on a real lab with real host processes and
 * their config files: a provisionCommand runs with the job's env before the runner, and its
 * failure aborts the job (provision) and breaks the host at once; a recoverCommand runs
 * after an infrastructure abort before the host's next lease, keeping it in the pool when it
 * succeeds and breaking it, with its output, when it fails.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
let marks: string;

/** A host config file with these hooks, in the lab's dir. */
async function configWith(name: string, hooks: Record<string, string[]>): Promise<string[]> {
  const file = path.join(lab.dir, `${name}.json`);
  await fs.writeFile(file, JSON.stringify(hooks));
  return ['--config', file];
}

beforeAll(async () => {
  lab = await TestLab.start({ name: 'host-hooks' });
  marks = path.join(lab.dir, 'marks');
  await fs.mkdir(marks);
  const mark = (what: string) => `echo "${what} $TESTBAY_JOB_ID $MODE" >> ${marks}/$TESTBAY_HOST`;
  await lab.startHost({
    id: 'p1',
    caps: { slot: 'p1' },
    args: await configWith('p1', {
      provisionCommand: [
        'sh',
        '-c',
        `${mark('provision')}; echo "reimaging for $TESTBAY_JOB"; [ "$MODE" != bad-image ]`,
      ],
    }),
  });
  await lab.startHost({
    id: 'r1',
    caps: { slot: 'r1' },
    args: await configWith('r1', {
      recoverCommand: ['sh', '-c', `${mark('recover')}; echo "power-cycled after $TESTBAY_ABORT_CAUSE"`],
    }),
  });
  await lab.startHost({
    id: 'r2',
    caps: { slot: 'r2' },
    args: await configWith('r2', {
      recoverCommand: ['sh', '-c', `${mark('recover')}; echo "BMC at 10.0.0.5 does not answer" >&2; exit 4`],
    }),
  });
});
afterAll(async () => {
  await lab?.stop();
});

const job = (name: string, slot: string, script: string, mode = 'ok') => ({
  name,
  workerClass: 'local',
  runner: { command: ['sh', '-c', script] },
  settings: { MODE: mode },
  hostRequires: [`slot == ${slot}`],
  timeoutMs: 60_000,
});
const marksOf = async (hostId: string) =>
  (await fs.readFile(path.join(marks, hostId), 'utf8').catch(() => ''))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

describe('provisionCommand', () => {
  it("runs with the job's env before the runner, and what it printed heads the job's log", async () => {
    const view = await lab.run({ jobs: [job('flash', 'p1', 'echo runner ran')] });
    const jobId = view.jobs[0]!.id;
    expect(view.jobs[0]!.result).toEqual({ kind: 'passed' });
    expect(await marksOf('p1')).toEqual([`provision ${jobId} ok`]);
    const log = await lab.api.log(jobId);
    expect(log.indexOf('reimaging for flash')).toBeGreaterThanOrEqual(0);
    expect(log.indexOf('reimaging for flash')).toBeLessThan(log.indexOf('runner ran'));
  });

  it('aborts the job with cause provision when it fails, which breaks the host at once', async () => {
    const view = await lab.run({ jobs: [job('flash-bad', 'p1', 'echo never runs', 'bad-image')] });
    const result = view.jobs[0]!.result;
    expect(result).toMatchObject({ kind: 'aborted', cause: 'provision' });
    expect(result && 'reason' in result && result.reason).toContain('provisionCommand `sh -c');
    expect(result && 'reason' in result && result.reason).toContain('exited with 1: reimaging for flash-bad');
    const host = await waitFor('p1 broken', async () =>
      (await lab.host('p1'))?.state === 'broken' ? lab.host('p1') : undefined,
    );
    expect(host.broken?.reason).toMatch(/^provision: provisionCommand/);
  });
});

describe('recoverCommand', () => {
  it('runs after an infrastructure abort, before the next lease, and a success keeps the host in the pool', async () => {
    const view = await lab.run({ jobs: [job('flaky', 'r1', 'exit 75')] });
    expect(view.jobs[0]!.result).toMatchObject({ kind: 'aborted', cause: 'runner-abort' });
    expect(await marksOf('r1')).toEqual([`recover ${view.jobs[0]!.id}`]);
    expect((await lab.host('r1'))?.state).toBe('idle');
    // Not after a pass or a failure.
    const after = await lab.run({ jobs: [job('fine', 'r1', 'echo fine'), job('wrong', 'r1', 'exit 1')] });
    expect(after.jobs.map((j) => j.result?.kind)).toEqual(['passed', 'failed']);
    expect(await marksOf('r1')).toHaveLength(1);
  });

  it("marks the host broken at once, with the command's output, when it fails", async () => {
    const view = await lab.run({ jobs: [job('flaky', 'r2', 'exit 75')] });
    expect(view.jobs[0]!.result).toMatchObject({ kind: 'aborted', cause: 'runner-abort' });
    const host = await waitFor('r2 broken', async () =>
      (await lab.host('r2'))?.state === 'broken' ? lab.host('r2') : undefined,
    );
    expect(host.broken?.reason).toContain('recovery failed: recoverCommand `sh -c');
    expect(host.broken?.reason).toContain('exited with 4: BMC at 10.0.0.5 does not answer');
  });
});

describe('recoverCommand in a batch run', () => {
  /** A shell runner that dies before its first test once per host, then passes every test it is given. */
  const flakyBatch = (slot: string) => ({
    batchRuns: [
      {
        name: 'suite',
        workerClass: 'local',
        hostRequires: [`slot == ${slot}`],
        batchSize: 3,
        maxHosts: 1,
        tests: ['t1', 't2', 't3', 't4', 't5', 't6'],
        runner: {
          command: [
            'sh',
            '-c',
            `if [ ! -e ${marks}/$TESTBAY_HOST.died ]; then touch ${marks}/$TESTBAY_HOST.died; exit 3; fi; while read -r t; do echo "{\\"test\\": {\\"name\\": \\"$t\\", \\"status\\": \\"passed\\"}}" >> "$TESTBAY_PROGRESS_FILE"; done < "$TESTBAY_TESTS_FILE"`,
          ],
        },
      },
    ],
  });

  it('runs on the host after a lost batch, before its next batch, and the run goes on there', async () => {
    const before = (await marksOf('r1')).length;
    const view = await lab.run(flakyBatch('r1'), 90_000);
    const run = view.batchRuns![0]!;
    expect(run.counts).toMatchObject({ total: 6, passed: 6 });
    const recovered = (await marksOf('r1')).slice(before);
    // One recovery, after the first batch (the one whose runner died), named by its job id.
    expect(recovered).toEqual([`recover ${run.id}.1`]);
    expect((await lab.host('r1'))?.state).toBe('idle');
  });

  it('breaks the host at once when it fails, and the run does not give it another batch', async () => {
    await lab.startHost({
      id: 'r3',
      caps: { slot: 'r3' },
      args: await configWith('r3', { recoverCommand: ['sh', '-c', 'echo "PDU r3 unreachable" >&2; exit 5'] }),
    });
    const { id } = await lab.submit(flakyBatch('r3'));
    const host = await waitFor(
      'r3 broken',
      async () => ((await lab.host('r3'))?.state === 'broken' ? lab.host('r3') : undefined),
      60_000,
    );
    expect(host.broken?.reason).toContain('exited with 5: PDU r3 unreachable');
    const view = await lab.waitForSubmission(id, 60_000);
    expect(view.batchRuns![0]!.counts.passed).toBe(0);
  });
});

describe('testbay power', () => {
  it("runs the host's powerCommand with on, off or cycle, from the API and the CLI", async () => {
    await lab.startHost({
      id: 'pw1',
      caps: { slot: 'pw1' },
      args: await configWith('pw1', {
        powerCommand: ['sh', '-c', `echo "PDU port 7: $1" | tee -a ${marks}/pw1`, 'pdu'],
      }),
    });
    expect((await lab.host('pw1'))?.canPower).toBe(true);
    const answer = await lab.api.power('pw1', 'cycle');
    expect(answer).toMatchObject({
      hostId: 'pw1',
      action: 'cycle',
      ok: true,
      exitCode: 0,
      output: 'PDU port 7: cycle',
    });
    const env = { TESTBAY_URL: lab.config.api.url, TESTBAY_TOKEN: lab.tokens.operate, TESTBAY_DATA_DIR: lab.dir };
    const off = await cli(['power', 'pw1', 'off', '--json'], env);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ ok: true, output: 'PDU port 7: off' });
    expect(await marksOf('pw1')).toEqual(['PDU port 7: cycle', 'PDU port 7: off']);
    const bad = await cli(['power', 'pw1', 'reboot'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: testbay power HOST on|off|cycle');
    // A host without a powerCommand says so (409); a submit token may not (403).
    expect(
      await lab.api.power('r1', 'on').then(
        () => 0,
        (err: { status: number; message: string }) => `${err.status} ${err.message}`,
      ),
    ).toBe('409 host r1 has no powerCommand in its config');
    expect(
      await lab.submitter.power('pw1', 'on').then(
        () => 0,
        (err: { status: number }) => err.status,
      ),
    ).toBe(403);
  });
});
