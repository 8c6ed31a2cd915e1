/**
 * @module Runners left behind: a host killed with SIGKILL cannot stop its runners, so each
 * running job's process group is recorded on disk, and a starting host stops the groups a
 * previous run of it left (checking each really is that job's runner, not a reused pid).
 * The runner guard (runner-guard.ts) stops them as soon as the host dies; this is the
 * fallback for a guard that died with it.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { groupMembers, stopGroup } from './process-group.js';
import { guardGroup, unguardGroup } from './runner-guard.js';

const dirOf = (workDir: string) => path.join(workDir, 'runners');

/** Records a running job's process group: for the runner guard now, and on disk for the reaper. */
export async function rememberRunner(workDir: string, jobId: string, pgid: number, graceMs: number): Promise<void> {
  guardGroup(pgid, graceMs);
  await fs.mkdir(dirOf(workDir), { recursive: true });
  await fs.writeFile(path.join(dirOf(workDir), `${jobId}.pid`), String(pgid));
}

export async function forgetRunner(workDir: string, jobId: string, pgid: number): Promise<void> {
  unguardGroup(pgid);
  await fs.rm(path.join(dirOf(workDir), `${jobId}.pid`), { force: true });
}

function belongsToJob(pid: number, jobId: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`TESTBAY_JOB_ID=${jobId}`);
  } catch {
    return false;
  }
}

/** Stops every recorded runner group still alive; returns the job ids it reaped. */
export async function reapStaleRunners(workDir: string, graceMs: number): Promise<string[]> {
  const files = await fs.readdir(dirOf(workDir)).catch(() => [] as string[]);
  const reaped: string[] = [];
  for (const file of files) {
    if (!file.endsWith('.pid')) continue;
    const jobId = file.slice(0, -4);
    const pgid = Number(await fs.readFile(path.join(dirOf(workDir), file), 'utf8'));
    if (Number.isInteger(pgid) && pgid > 1 && groupMembers(pgid).some((pid) => belongsToJob(pid, jobId))) {
      await stopGroup(pgid, graceMs);
      reaped.push(jobId);
    }
    await fs.rm(path.join(dirOf(workDir), file), { force: true });
  }
  return reaped;
}
