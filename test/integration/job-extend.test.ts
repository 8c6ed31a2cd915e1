/**
 * Extending a running job's deadline on a real lab: by its submitter through the API and
 * the CLI (`testbay extend JOB --by 30m`), or by its runner with a status line
 * `{"extendMs": …}`; the host learns the new deadline and lets the runner run on. Within
 * TESTBAY_MAX_EXTEND_MS in all (400 naming byMs), only while the job runs (409), only by
 * its submitter or an operator (403); shown by `testbay job` with the deadline it moved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiError, TestbayClient } from '../../src/api/client.js';
import { cli } from '../helpers/cli.js';
import { TestLab, waitFor } from '../helpers/lab.js';

const OTHER = 'other-submitter-0123456789abcdef';
let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'extend',
    hosts: [{ id: 'e1' }, { id: 'e2' }],
    env: { TESTBAY_MAX_EXTEND_MS: '20000' },
    extraTokens: [{ token: OTHER, role: 'submit', name: 'someone-else' }],
  });
});
afterAll(async () => {
  await lab?.stop();
});

const sh = (name: string, script: string, timeoutMs: number) => ({
  name,
  workerClass: 'local',
  runner: { command: ['sh', '-c', script] },
  timeoutMs,
});
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err as ApiError,
  );
const running = (jobId: string) =>
  waitFor(`${jobId} running`, async () => ((await lab.api.job(jobId)).state === 'running' ? true : undefined));

describe('testbay extend', () => {
  it('lets a job run past its timeoutMs once its submitter extended it, and shows the extension', async () => {
    const env = { TESTBAY_URL: lab.config.api.url, TESTBAY_TOKEN: lab.tokens.submit, TESTBAY_DATA_DIR: lab.dir };
    // The runner needs 9 s and has 6: it passes only if the extension arrives in time.
    const { id, jobs } = await lab.submitter.submit({ jobs: [sh('long', 'echo start; sleep 9; echo done', 6_000)] });
    const jobId = jobs[0]!.id;
    const bad = await cli(['extend', jobId, '--by', 'soon'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--by: a duration like 90s, 30m or 2h (or milliseconds), not "soon"');
    await running(jobId);
    const before = await lab.api.job(jobId);
    expect(before.timeoutMs).toBe(6_000);
    const done = await cli(['extend', jobId, '--by', '6s', '--json'], env);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ jobId, extendedMs: 6_000, extensions: [{ byMs: 6_000 }] });
    // Its deadline moved by the extension, and `testbay job` says when it is now.
    const after = await lab.api.job(jobId);
    expect(Date.parse(after.deadline!) - Date.parse(before.deadline!)).toBe(6_000);
    const during = await cli(['job', jobId], env);
    expect(during.stdout).toContain(
      `deadline   ${after.deadline!.slice(0, 19).replace('T', ' ')} UTC (timeoutMs 6 s, extended by 6 s)`,
    );
    // Someone else's submit token may not; over the cap is refused naming byMs.
    expect((await refusal(new TestbayClient(lab.config.api.url, OTHER).extendJob(jobId, 1_000)))?.status).toBe(403);
    const over = await refusal(lab.api.extendJob(jobId, 15_000));
    expect(over?.status).toBe(400);
    expect(over?.issues[0]?.path).toEqual(['byMs']);
    expect(over?.message).toContain("past this lab's cap of 20 s (TESTBAY_MAX_EXTEND_MS)");

    const view = await lab.waitForSubmission(id);
    expect(view.jobs[0]!.result).toEqual({ kind: 'passed' });
    const shown = await cli(['job', jobId], env);
    expect(shown.stdout).toMatch(/extended +by 6 s: \+6 s by \S+ at \d\d:\d\d:\d\d/);
    // An ended job has no deadline.
    expect(shown.stdout).not.toContain('deadline');
    expect((await lab.api.job(jobId)).deadline).toBeUndefined();
    // An ended job cannot be extended.
    const ended = await refusal(lab.api.extendJob(jobId, 1_000));
    expect(ended?.status).toBe(409);
    expect(ended?.message).toBe(
      `job ${jobId} has already ended (passed): only a running job's deadline can be extended`,
    );
  });

  it('takes a runner\'s own {"extendMs": …} status line', async () => {
    const script = 'echo \'{"extendMs": 4000}\' >> "$TESTBAY_PROGRESS_FILE"; sleep 4; echo done';
    const view = await lab.run({ jobs: [sh('asks-for-time', script, 2_500)] });
    expect(view.jobs[0]!.result).toEqual({ kind: 'passed' });
    expect((await lab.api.job(view.jobs[0]!.id)).extensions).toMatchObject([{ byMs: 4_000, by: 'runner' }]);
  });

  it('still stops a job that was not extended at its timeoutMs', async () => {
    const view = await lab.run({ jobs: [sh('no-extension', 'sleep 10', 1_500)] });
    expect(view.jobs[0]!.result).toMatchObject({ kind: 'aborted', cause: 'run-timeout' });
  });
});
