/**
 * @module A host's side of a reservation: `startReservation` writes the keys file, keeps the
 * job's dir from being pruned and runs the host config's `reserve.startCommand`;
 * `endReservation` runs `reserve.endCommand`, then removes the keys, the mark and the
 * job's dir, so the host goes back to the pool clean. Both commands are argv arrays run as
 * the host's own user (they may add keys to an account), with the job's environment plus
 * TESTBAY_RESERVE_SSH_KEYS (a file of the keys) and TESTBAY_RESERVE_UNTIL.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Context } from '@temporalio/activity';
import type { JobRun } from '../../domain/job-run.js';
import type { HostDeps } from './deps.js';
import { spawnGroup, stopGroup } from './process-group.js';
import { jobDirOf } from './provision.js';
import { runnerEnv } from './runner-env.js';
import { removeJobDir } from './runner-user.js';

/** What a hook may print that the job page shows; the rest is cut. */
const OUTPUT_BYTES = 8 * 1024;

export interface ReserveHooks {
  startCommand?: string[];
  endCommand?: string[];
  /** a hook still running after this is stopped (its output so far is kept) */
  timeoutMs: number;
}

export interface ReservationOnHost {
  hostId: string;
  /** the job whose dir is kept; absent for a loan */
  run?: JobRun;
  /** a loan's name for its keys file (its workflow id) */
  name: string;
  by: string;
  sshKeys: string[];
  until: number;
}

export interface ReservationStarted {
  output: string;
  workDir?: string;
  resultsDir?: string;
}

/** Where reservations mark what they keep: `<workDir>/reservations/<name>` (a job id, or a loan's id). */
export const reservationsDir = (workDir: string) => path.join(workDir, 'reservations');
const safe = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, '_');

/** The job dirs a reservation keeps: pruning leaves them alone. */
export async function reservedJobDirs(workDir: string): Promise<Set<string>> {
  return new Set(await fs.readdir(reservationsDir(workDir)).catch(() => [] as string[]));
}

export function createReservationActivities(
  deps: Pick<HostDeps, 'workDir' | 'runnerPath' | 'runnerUser' | 'killGraceMs' | 'log'> & { reserve?: ReserveHooks },
) {
  const hooks = deps.reserve ?? { timeoutMs: 60_000 };

  const dirsOf = (r: ReservationOnHost) => {
    const jobDir = r.run ? jobDirOf(deps, r.run.jobId) : undefined;
    return {
      jobDir,
      workDir: jobDir ? path.join(jobDir, 'work') : undefined,
      resultsDir: jobDir ? path.join(jobDir, 'results') : undefined,
    };
  };
  const keysFile = (r: ReservationOnHost) =>
    path.join(reservationsDir(deps.workDir), `${safe(r.run?.jobId ?? r.name)}.keys`);
  const mark = (r: ReservationOnHost) => path.join(reservationsDir(deps.workDir), safe(r.run?.jobId ?? r.name));

  const envOf = (r: ReservationOnHost): NodeJS.ProcessEnv => {
    const { workDir, resultsDir } = dirsOf(r);
    const base: NodeJS.ProcessEnv = r.run
      ? runnerEnv(r.run, { workDir: workDir!, resultsDir: resultsDir! }, deps.runnerPath)
      : {
          PATH: [...deps.runnerPath, process.env.PATH ?? '/usr/bin:/bin'].join(path.delimiter),
          HOME: process.env.HOME,
          TESTBAY_HOST: r.hostId,
        };
    return {
      ...base,
      TESTBAY_RESERVE_SSH_KEYS: keysFile(r),
      TESTBAY_RESERVE_UNTIL: new Date(r.until).toISOString(),
      TESTBAY_RESERVE_BY: r.by,
    };
  };

  /** Runs a hook to its end (or its timeout); what it printed, with how it ended when that was not well. */
  const runHook = async (which: 'startCommand' | 'endCommand', r: ReservationOnHost): Promise<string> => {
    const argv = hooks[which];
    if (!argv || argv.length === 0) return '';
    const ctx = Context.current();
    let output = '';
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => {
      if (output.length < OUTPUT_BYTES) output += chunk.toString('utf8');
    });
    const cwd = dirsOf(r).workDir ?? deps.workDir;
    let proc;
    try {
      proc = await spawnGroup(argv, {
        cwd: await fs.stat(cwd).then(
          () => cwd,
          () => deps.workDir,
        ),
        env: envOf(r),
        output: sink,
      });
    } catch (err) {
      return `reserve ${which} could not start: ${(err as Error).message}`;
    }
    const beat = setInterval(() => ctx.heartbeat({ hook: which }), 1_000);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void stopGroup(proc.pid, deps.killGraceMs);
    }, hooks.timeoutMs);
    const onCancel = () => void stopGroup(proc.pid, deps.killGraceMs);
    ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
    try {
      const exit = await proc.exited;
      await proc.closed;
      const text = output.slice(0, OUTPUT_BYTES);
      if (timedOut) return `${text}reserve ${which} stopped after ${hooks.timeoutMs} ms\n`;
      if (exit.code !== 0) return `${text}reserve ${which} exited ${exit.code ?? exit.signal}\n`;
      return text;
    } finally {
      clearInterval(beat);
      clearTimeout(timer);
      ctx.cancellationSignal.removeEventListener('abort', onCancel);
    }
  };

  return {
    async startReservation(r: ReservationOnHost): Promise<ReservationStarted> {
      await fs.mkdir(reservationsDir(deps.workDir), { recursive: true, mode: 0o700 });
      await fs.writeFile(mark(r), `${r.by} until ${new Date(r.until).toISOString()}\n`);
      await fs.writeFile(keysFile(r), r.sshKeys.map((k) => `${k}\n`).join(''), { mode: 0o644 });
      const output = await runHook('startCommand', r);
      const { workDir, resultsDir } = dirsOf(r);
      deps.log.info('host reserved', { job: r.run?.jobId, by: r.by, until: new Date(r.until).toISOString() });
      return { output, ...(workDir ? { workDir } : {}), ...(resultsDir ? { resultsDir } : {}) };
    },

    async endReservation(r: ReservationOnHost): Promise<{ output: string }> {
      const output = await runHook('endCommand', r);
      await fs.rm(keysFile(r), { force: true });
      await fs.rm(mark(r), { force: true });
      const { jobDir } = dirsOf(r);
      if (jobDir)
        await removeJobDir(jobDir, deps.runnerUser).catch((err: unknown) =>
          deps.log.warn('could not remove a reserved job dir', { jobDir, error: String(err) }),
        );
      deps.log.info('reservation ended', { job: r.run?.jobId, by: r.by });
      return { output };
    },
  };
}
