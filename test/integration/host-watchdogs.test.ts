/**
 * Watchdogs that fit real jobs, on a real lab: a runner silent for outputTimeoutMs (no log
 * output, no status line) is stopped and its job aborted with cause `no-output`, saying
 * since which module; a runner that keeps talking runs on past it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestLab } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'watchdogs', hosts: [{ id: 'w1' }] });
});
afterAll(async () => {
  await lab?.stop();
});

const sh = (name: string, script: string, extra: Record<string, unknown> = {}) => ({
  name,
  workerClass: 'local',
  runner: { command: ['sh', '-c', script] },
  timeoutMs: 60_000,
  ...extra,
});

describe('outputTimeoutMs', () => {
  it('stops a runner that went silent and aborts its job with cause no-output, naming the last module', async () => {
    const script = 'echo booting; echo \'{"module": "boot"}\' >> "$TESTBAY_PROGRESS_FILE"; sleep 60';
    const started = Date.now();
    const view = await lab.run({ jobs: [sh('silent', script, { outputTimeoutMs: 1_500 })] });
    const result = view.jobs[0]!.result;
    expect(result).toEqual({
      kind: 'aborted',
      cause: 'no-output',
      reason: 'no output for 1.5 s since `module boot` (outputTimeoutMs); stopped',
    });
    expect(Date.now() - started).toBeLessThan(30_000);
    // The host stays in the pool: a silent runner is the job's fault until it passes elsewhere.
    expect((await lab.host('w1'))?.state).toBe('idle');
  });

  it('lets a runner that keeps writing run on past outputTimeoutMs', async () => {
    const script = 'for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.4; done';
    const view = await lab.run({ jobs: [sh('chatty', script, { outputTimeoutMs: 1_500 })] });
    expect(view.jobs[0]!.result).toEqual({ kind: 'passed' });
  });

  it('counts status lines as output too', async () => {
    const script =
      'for i in 1 2 3 4 5 6 7 8; do echo "{\\"percent\\": $((i * 10))}" >> "$TESTBAY_PROGRESS_FILE"; sleep 0.4; done';
    const view = await lab.run({ jobs: [sh('quiet-but-reporting', script, { outputTimeoutMs: 1_500 })] });
    expect(view.jobs[0]!.result).toEqual({ kind: 'passed' });
  });
});
