/**
 * @module The host's recover and power activities: `recoverHost` runs the host config's
 * recoverCommand after an infrastructure abort (its chain still holds the lease, so the host
 * takes nothing else meanwhile), `powerHost` runs its powerCommand with `on`, `off` or
 * `cycle` appended. Both heartbeat while their command runs, and say what it printed.
 */
import { Context } from '@temporalio/activity';
import type { HostDeps } from './deps.js';
import { runHook, type HookRun } from './host-hooks.js';

export const POWER_ACTIONS = ['on', 'off', 'cycle'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

/** What a hook answers when the host has none of that kind. */
export type HookAnswer = ({ ran: true } & HookRun) | { ran: false; summary: string };

const DEFAULT_HOOK_TIMEOUT_MS = 10 * 60_000;

function hookEnv(deps: HostDeps, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    TESTBAY_HOST: deps.hostId,
  };
  for (const key of ['HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER', 'LOGNAME'])
    if (process.env[key] !== undefined) env[key] = process.env[key];
  return { ...env, ...extra };
}

async function heartbeating<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 1_000);
  try {
    ctx.heartbeat();
    return await fn();
  } finally {
    clearInterval(beat);
  }
}

export function createRecoverHost(deps: HostDeps) {
  return async function recoverHost(input: { jobId: string; cause: string; reason: string }): Promise<HookAnswer> {
    const command = deps.hooks?.recoverCommand;
    if (!command) return { ran: false, summary: `host ${deps.hostId} has no recoverCommand` };
    deps.log.info('running recoverCommand after an infrastructure abort', { job: input.jobId, cause: input.cause });
    const run = await heartbeating(() =>
      runHook('recoverCommand', command, {
        env: hookEnv(deps, {
          TESTBAY_JOB_ID: input.jobId,
          TESTBAY_ABORT_CAUSE: input.cause,
          TESTBAY_ABORT_REASON: input.reason,
        }),
        cwd: deps.workDir,
        timeoutMs: deps.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS,
        killGraceMs: deps.killGraceMs,
        signal: Context.current().cancellationSignal,
      }),
    );
    if (run.ok) deps.log.info('recoverCommand succeeded', { job: input.jobId });
    else deps.log.warn('recoverCommand failed', { job: input.jobId, summary: run.summary });
    return { ran: true, ...run };
  };
}

export function createPowerHost(deps: HostDeps) {
  return async function powerHost(input: { action: PowerAction; by: string }): Promise<HookAnswer> {
    const command = deps.hooks?.powerCommand;
    if (!command) return { ran: false, summary: `host ${deps.hostId} has no powerCommand in its config` };
    deps.log.info('running powerCommand', { action: input.action, by: input.by });
    const run = await heartbeating(() =>
      runHook(`powerCommand ${input.action}`, [...command, input.action], {
        env: hookEnv(deps, { TESTBAY_POWER_ACTION: input.action }),
        cwd: deps.workDir,
        timeoutMs: deps.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS,
        killGraceMs: deps.killGraceMs,
        signal: Context.current().cancellationSignal,
      }),
    );
    return { ran: true, ...run };
  };
}
