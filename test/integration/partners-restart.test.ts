/**
 * Barriers and messages between partners are held in the recipe set's workflow: they
 * outlast a restart (SIGKILL) of the API and of the control worker while runners wait, on a
 * lab whose parts run as their own processes, as deployed.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JobView, SubmissionView } from '../../src/domain/views.js';
import { TestLab, waitFor } from '../helpers/lab.js';

let lab: TestLab;
let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-partners-restart-'));
  await fs.chmod(dir, 0o755);
  lab = await TestLab.start({
    name: 'partners-restart',
    separateProcesses: true,
    hosts: [
      { id: 'r1', caps: { slot: 'r1' } },
      { id: 'r2', caps: { slot: 'r2' } },
    ],
    env: { TESTBAY_PARTNER_WAIT_MS: '2000', TESTBAY_API_TIMEOUT_MS: '5000' },
  });
});
afterAll(async () => {
  await lab?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const byName = (v: SubmissionView) => Object.fromEntries(v.jobs.map((j) => [j.name, j])) as Record<string, JobView>;
const sh = (name: string, slot: string, script: string, extra: Record<string, unknown> = {}) => ({
  name,
  workerClass: 'local',
  runner: { command: ['sh', '-c', script] },
  hostRequires: [`slot == ${slot}`],
  timeoutMs: 180_000,
  ...extra,
});

it('a barrier and a message outlast a restart of the API and the control worker', async () => {
  // The host puts `testbay` on the runner's PATH.
  const testbay = 'testbay';
  const until = (file: string) => `while [ ! -e "${file}" ]; do sleep 0.2; done`;
  const waiting = path.join(dir, 'a-waiting');
  const early = sh(
    'early',
    'r1',
    `touch "${waiting}"; ${testbay} barrier met --timeout 150s || exit 30; ${testbay} receive go --timeout 150s || exit 31`,
    { parallelWith: 'late' },
  );
  const late = sh(
    'late',
    'r2',
    `${until(path.join(dir, 'go-1'))}; ${testbay} barrier met --timeout 150s || exit 40; ${until(path.join(dir, 'go-2'))}; ${testbay} send go hi || exit 41`,
  );
  const { id } = await lab.submit({ jobs: [early, late] });
  await waitFor(
    'the early job to wait at its barrier',
    () =>
      fs.access(waiting).then(
        () => true,
        () => false,
      ),
    60_000,
  );
  await new Promise((r) => setTimeout(r, 1_500));
  await lab.restartPart('control');
  await lab.restartPart('api');
  await fs.writeFile(path.join(dir, 'go-1'), '');
  // The receive now waits: the control worker and the API go away again under it.
  await new Promise((r) => setTimeout(r, 2_000));
  await lab.restartPart('api');
  await lab.restartPart('control');
  await fs.writeFile(path.join(dir, 'go-2'), '');
  const view = await lab.waitForSubmission(id, 150_000);
  const jobs = byName(view);
  const earlyLog = await lab.api.log(jobs.early!.id);
  expect(
    { early: jobs.early!.result?.kind, late: jobs.late!.result?.kind },
    `${earlyLog}\n----\n${await lab.api.log(jobs.late!.id)}`,
  ).toEqual({ early: 'passed', late: 'passed' });
  expect(earlyLog).toContain('barrier met reached');
  expect(earlyLog).toMatch(/^hi$/m);
});
