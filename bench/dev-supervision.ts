/**
 * bench/dev-supervision: the embedded lab (`testbay dev`, the product's default timings)
 * losing one process at a time under a running 20-second job (maxRetries 1), as a new user
 * would try it with kill -9. For a host: SIGKILL → the retry's runner start on another
 * host, and → the host online again (its new process registered under a fresh instance
 * id). For the control worker, the API and the Temporal dev server: SIGKILL → running
 * again (the API and Temporal: answering; the control worker: spawned, then polling), and
 * the job's extra time over an undisturbed run of the same job. Every job must pass.
 */
import fs from 'node:fs/promises';
import type { SubmissionView } from '../src/domain/views.js';
import { DevLab, timedJob } from '../test/helpers/dev-lab.js';
import { waitFor } from '../test/helpers/lab.js';
import { PRODUCT_TIMINGS, writeResult } from './harness.js';

/** 4 modules of 5 s: the issue's 20-second job. */
const MODULE_MS = 5_000;
const job = (name: string) => timedJob(name, MODULE_MS);

const span = (view: SubmissionView) => {
  const starts = view.jobs.map((j) => new Date(j.startedAt ?? NaN).getTime());
  const ends = view.jobs.map((j) => new Date(j.endedAt ?? NaN).getTime());
  return Math.max(...ends) - Math.min(...starts);
};

// The supervisor's "running again" lines are info.
const lab = await DevLab.start(
  { ...PRODUCT_TIMINGS, TESTBAY_LOG_LEVEL: 'info' },
  { prefix: 'testbay-bench-supervise-' },
);
let failed = false;
try {
  const baseline = await lab.ended((await lab.api.submit(job('undisturbed'))).id);
  if (baseline.result !== 'passed') throw new Error(`the undisturbed job ended ${baseline.result}`);
  const undisturbedMs = span(baseline);
  console.log(`  undisturbed 20-second job: ${undisturbedMs} ms from runner start to end`);

  const onHost = await lab.startJob(job('host-killed'));
  await sleepInto(onHost.id);
  const instance = await lab.onlineInstance(onHost.hostId);
  const host = await lab.kill(onHost.hostId);
  await lab.registeredAgain(onHost.hostId, instance);
  const hostOnlineMs = Date.now() - host.killedAt;
  const hostView = await lab.ended(onHost.id);
  const [first, retry] = [...hostView.jobs].sort((a, b) => a.attempt - b.attempt);
  const failoverMs = new Date(retry?.startedAt ?? NaN).getTime() - host.killedAt;
  const hostOk =
    hostView.result === 'passed' &&
    first?.result?.kind === 'aborted' &&
    first.result.cause === 'host-lost' &&
    retry?.hostId !== onHost.hostId;
  failed ||= !hostOk;
  console.log(
    `  host ${onHost.hostId}: SIGKILL → retry's runner started on ${retry?.hostId} after ${failoverMs} ms; host online again after ${hostOnlineMs} ms; first attempt ${first?.result?.kind} (${first?.result?.kind === 'aborted' ? first.result.cause : '-'}), submission ${hostView.result}`,
  );

  const parts: Record<
    string,
    { runningAgainMs: number; readyMs?: number; extraMs: number; attempts: number; result: string }
  > = {};
  for (const part of ['control', 'api', 'temporal']) {
    const started = await lab.startJob(job(`${part}-killed`));
    await sleepInto(started.id);
    // The control worker is running again once spawned, ready once it polls (after bundling the workflows).
    const pollingBefore = lab.linesOf('control', 'control worker running');
    const { killedAt, runningAgainAt } = await lab.kill(part);
    let readyMs: number | undefined;
    if (part === 'control') {
      await waitFor(
        'the control worker to poll',
        () => lab.linesOf('control', 'control worker running') > pollingBefore,
        60_000,
        50,
      );
      readyMs = Date.now() - killedAt;
    }
    const view = await lab.ended(started.id);
    parts[part] = {
      runningAgainMs: runningAgainAt - killedAt,
      ...(readyMs !== undefined ? { readyMs } : {}),
      extraMs: span(view) - undisturbedMs,
      attempts: view.jobs.length,
      result: view.result ?? '?',
    };
    failed ||= view.result !== 'passed';
    console.log(
      `  ${part}: SIGKILL → running again after ${parts[part].runningAgainMs} ms${readyMs !== undefined ? ` (polling after ${readyMs} ms)` : ''}; the job ${view.result} in ${view.jobs.length} attempt(s), ${parts[part].extraMs} ms over the undisturbed run`,
    );
  }
  const file = await writeResult('dev-supervision', {
    heartbeatTimeoutMs: Number(PRODUCT_TIMINGS.TESTBAY_HEARTBEAT_TIMEOUT_MS),
    undisturbedMs,
    host: { failoverMs, hostOnlineMs, firstResult: first?.result, retryHost: retry?.hostId, result: hostView.result },
    parts,
    allPassed: !failed,
  });
  console.log(`dev-supervision: written to ${file}`);
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  const stopped = await lab.stop();
  if (stopped.code !== 0) {
    failed = true;
    console.error(`testbay dev ended with ${stopped.code}:\n${stopped.stderr.slice(-2000)}`);
  }
  await fs.rm(lab.dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

/** Lets the job run into its second module, as a user would wait before pulling the plug. */
async function sleepInto(id: string): Promise<void> {
  await waitFor(
    `${id} in its second module`,
    async () => ((await lab.api.submission(id)).jobs[0]?.progress?.percent ?? 0) >= 25,
    60_000,
    200,
  );
}
