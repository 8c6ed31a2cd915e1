/**
 * @module Runners left behind: a host killed with SIGKILL cannot stop its runners, so each
 * running job's process group is recorded on disk, and a starting host stops the groups a
 * previous run of it left (checking each really is that job's runner, not a reused pid).
 * The runner guard (runner-guard.ts) stops them as soon as the host dies; this is the
 * fallback for a guard that died with it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../logger.js';
import { carriesMarker, groupMembers, stopEscaped, stopGroup, type RunnerProcess } from './process-group.js';
import { runnerMarker } from './runner-env.js';
import { guardGroup, unguardGroup } from './runner-guard.js';

const dirOf = (workDir: string) => path.join(workDir, 'runners');

/** A runner as the guard and the reaper know it: its process group and when it started. */
type Runner = Pick<RunnerProcess, 'pid' | 'startTicks'>;

/** Records a running job's process group: for the runner guard now, and on disk for the reaper. */
export async function rememberRunner(workDir: string, jobId: string, runner: Runner, graceMs: number): Promise<void> {
  guardGroup(runner.pid, graceMs, runnerMarker(jobId), runner.startTicks);
  await fs.mkdir(dirOf(workDir), { recursive: true });
  await fs.writeFile(path.join(dirOf(workDir), `${jobId}.start`), String(runner.startTicks));
  await fs.writeFile(path.join(dirOf(workDir), `${jobId}.pid`), String(runner.pid));
}

/**
 * Once the runner's group is stopped: stops its descendants that left the group (setsid, a
 * daemon), found by the job's marker in their environment, then drops the records.
 */
export async function forgetRunner(
  workDir: string,
  jobId: string,
  runner: Runner,
  graceMs: number,
  log: Pick<Logger, 'warn'>,
): Promise<void> {
  const escaped = await stopEscaped(runnerMarker(jobId), runner.pid, runner.startTicks, graceMs);
  if (escaped.length > 0) log.warn('stopped processes that left the runner group', { job: jobId, pids: escaped });
  unguardGroup(runner.pid);
  await fs.rm(path.join(dirOf(workDir), `${jobId}.pid`), { force: true });
  await fs.rm(path.join(dirOf(workDir), `${jobId}.start`), { force: true });
}

/** Stops every recorded runner group still alive; returns the job ids it reaped. */
export async function reapStaleRunners(workDir: string, graceMs: number): Promise<string[]> {
  const files = await fs.readdir(dirOf(workDir)).catch(() => [] as string[]);
  const reaped: string[] = [];
  for (const file of files) {
    if (!file.endsWith('.pid')) continue;
    const jobId = file.slice(0, -4);
    const pgid = Number(await fs.readFile(path.join(dirOf(workDir), file), 'utf8'));
    const startFile = path.join(dirOf(workDir), `${jobId}.start`);
    const startTicks = Number(await fs.readFile(startFile, 'utf8').catch(() => '0')) || 0;
    if (Number.isInteger(pgid) && pgid > 1) {
      const inGroup = groupMembers(pgid).some((pid) => carriesMarker(pid, runnerMarker(jobId)));
      if (inGroup) await stopGroup(pgid, graceMs);
      // What left the group still carries the job's marker (processes started since the runner).
      const escaped = await stopEscaped(runnerMarker(jobId), pgid, startTicks, graceMs);
      if (inGroup || escaped.length > 0) reaped.push(jobId);
    }
    await fs.rm(path.join(dirOf(workDir), file), { force: true });
    await fs.rm(startFile, { force: true });
  }
  return reaped;
}
