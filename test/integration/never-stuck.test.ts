/**
 * No submission stays running for ever. Partners (`parallelWith`) that end at the same
 * moment: each one's failure tells the recipe set, which stops the others, whose chains
 * may have ended already. A chain with long job names stays within Temporal's limits. A
 * submission whose workflow was terminated by hand is reconciled: aborted when read, by
 * the periodic sweep for the listing, and by `cancel`. No workflow task may fail on the
 * way (the suite's guard checks that around each test).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { submissionWorkflowId } from '../../src/domain/ids.js';
import type { JobView, SubmissionView } from '../../src/domain/views.js';
import { TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({
    name: 'never-stuck',
    hosts: [{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }],
    // Jobs fail on purpose here; a failure never counts against a host anyway.
    env: { TESTBAY_BROKEN_AFTER_ABORTS: '100' },
  });
});
afterEach(async () => {
  await lab.cancelRunning();
});
afterAll(async () => {
  await lab?.stop();
});

const sh = (name: string, script: string, extra: Record<string, unknown> = {}) => ({
  name,
  workerClass: 'local',
  runner: { command: ['sh', '-c', script] },
  ...extra,
});
const byName = (v: SubmissionView) => Object.fromEntries(v.jobs.map((j) => [j.name, j])) as Record<string, JobView>;

/** A partner that failed ran to its own verdict, or was stopped because the other failed first. */
function expectFailedOrStoppedBy(job: JobView, partners: string[]): void {
  const r = job.result!;
  if (r.kind === 'failed') {
    expect(r.reason).toMatch(/runner exited with code [1-9]/);
    return;
  }
  expect(r.kind, `${job.name}: ${JSON.stringify(r)}`).toBe('skipped');
  expect(r.reason).toMatch(new RegExp(`partner \`(${partners.join('|')})\` failed`));
}

describe('partners that end together', () => {
  it('both failing at once end the submission failed, each with its own result', async () => {
    const view = await lab.run({ jobs: [sh('srv', 'exit 7', { parallelWith: 'cli' }), sh('cli', 'exit 8')] }, 30_000);
    expect(view.state).toBe('done');
    expect(view.result).toBe('failed');
    const jobs = byName(view);
    expectFailedOrStoppedBy(jobs.srv!, ['cli']);
    expectFailedOrStoppedBy(jobs.cli!, ['srv']);
    expect([jobs.srv!.result!.kind, jobs.cli!.result!.kind]).toContain('failed');
  });

  it('failing 1 ms apart end the submission failed', async () => {
    const view = await lab.run(
      { jobs: [sh('srv', 'exit 7', { parallelWith: 'cli' }), sh('cli', 'sleep 0.001; exit 8')] },
      30_000,
    );
    expect(view.result).toBe('failed');
    const jobs = byName(view);
    expectFailedOrStoppedBy(jobs.srv!, ['cli']);
    expectFailedOrStoppedBy(jobs.cli!, ['srv']);
  });

  it('a set of three that all fail together ends failed', async () => {
    const view = await lab.run(
      { jobs: [sh('a', 'exit 3', { parallelWith: ['b', 'c'] }), sh('b', 'exit 4'), sh('c', 'exit 5')] },
      30_000,
    );
    expect(view.result).toBe('failed');
    const jobs = byName(view);
    for (const name of ['a', 'b', 'c'])
      expectFailedOrStoppedBy(
        jobs[name]!,
        ['a', 'b', 'c'].filter((n) => n !== name),
      );
    expect(Object.values(jobs).filter((j) => j.result?.kind === 'failed').length).toBeGreaterThan(0);
  });

  it('one failing while the other is being cancelled ends, the cancelled one cancelled', async () => {
    const { id, jobs } = await lab.submit({
      jobs: [sh('srv', 'sleep 1; exit 7', { parallelWith: 'cli' }), sh('cli', 'sleep 30')],
    });
    const cli = jobs.find((j) => j.name === 'cli')!.id;
    await waitFor(
      'both partners to run',
      async () => {
        const v = await lab.api.submission(id);
        return v.jobs.every((j) => j.state === 'running');
      },
      20_000,
    );
    // The cancel goes out as srv's runner is about to fail.
    await new Promise((r) => setTimeout(r, 950));
    await lab.api.cancelJob(cli, 'cancelled while the partner fails');
    const view = await lab.waitForSubmission(id, 30_000);
    const byJob = byName(view);
    expect(view.state).toBe('done');
    // cli was cancelled by a person, or stopped by srv's failure if that came first.
    expect(['cancelled', 'skipped']).toContain(byJob.cli!.result!.kind);
    // srv failed by itself, or was stopped as cli's partner when the cancel came first.
    expect(['failed', 'skipped']).toContain(byJob.srv!.result!.kind);
    if (byJob.srv!.result!.kind === 'skipped') expect(byJob.srv!.result!.reason).toMatch(/partner `cli` was cancelled/);
    expect(['cancelled', 'failed']).toContain(view.result);
  });
});

describe('submissions that could not end before', () => {
  it("a chain of 18 jobs with 100-character names runs (its search attributes stay within Temporal's limits)", async () => {
    const names = Array.from({ length: 18 }, (_, i) => `${String(i).padStart(2, '0')}-${'x'.repeat(97)}`);
    const jobs = names.map((name, i) => sh(name, 'exit 0', i > 0 ? { startDirectlyAfter: names[i - 1] } : {}));
    const view = await lab.run({ jobs }, 60_000);
    expect(view.result).toBe('passed');
    expect(view.jobs).toHaveLength(18);
    // 50 of them in parallel sets of one are accepted too, and end.
    const many = Array.from({ length: 50 }, (_, i) => sh(`${String(i).padStart(2, '0')}-${'y'.repeat(97)}`, 'exit 0'));
    expect((await lab.run({ jobs: many }, 90_000)).result).toBe('passed');
  });

  it('one whose workflow was terminated by hand is aborted: in the listing by the sweep, and when read', async () => {
    const { id } = await lab.submit({ jobs: [sh('held', 'sleep 60')] });
    await waitFor('the job to run', async () => (await lab.api.submission(id)).jobs[0]!.state === 'running', 20_000);
    await lab.temporal.workflow.getHandle(submissionWorkflowId(id)).terminate('by hand, in a test');
    // The listing (what `testbay status` shows) reads the store: the sweep ends it there.
    const listed = await waitFor(
      'the sweep to end it',
      async () => {
        const s = (await lab.api.submissions({ limit: '50' })).submissions.find((x) => x.id === id);
        return s?.state === 'done' ? s : undefined;
      },
      30_000,
      500,
    );
    expect(listed.result).toBe('aborted');
    const view = await lab.api.submission(id);
    expect(view.state).toBe('done');
    expect(view.result).toBe('aborted');
    expect(view.jobs[0]!.result).toMatchObject({ kind: 'aborted', cause: 'internal' });
    expect((view.jobs[0]!.result as { reason: string }).reason).toMatch(/terminated.*by hand, in a test/);
  });

  it('cancel on one whose workflow is gone ends it instead of answering 409', async () => {
    const { id, jobs } = await lab.submit({ jobs: [sh('gone', 'sleep 60')] });
    await waitFor('the job to run', async () => (await lab.api.submission(id)).jobs[0]!.state === 'running', 20_000);
    await lab.temporal.workflow.getHandle(submissionWorkflowId(id)).terminate('gone before the cancel');
    const answer = (await lab.api.cancelJob(jobs[0]!.id, 'too late')) as { cancelling: boolean; result?: string };
    expect(answer).toMatchObject({ cancelling: false, result: 'aborted' });
    expect((await lab.api.submission(id)).result).toBe('aborted');
  });
});
