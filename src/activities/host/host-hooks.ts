/**
 * @module The host's hooks from its config file: `provisionCommand` (at provisioning, with
 * the job's env: reimage or power-cycle the machine under test), `recoverCommand` (after an
 * infrastructure abort, before the next lease) and `powerCommand` (`testbay power HOST
 * on|off|cycle`). Each is an argv array run as the host's own user (it may hold IPMI or PDU
 * credentials the runner must not see), as its own process group, stopped on cancel or
 * after TESTBAY_HOOK_TIMEOUT_MS. What it printed (the last few KiB) is its answer.
 */
import { Writable } from 'node:stream';
import { spawnGroup, stopGroup } from './process-group.js';

export interface HostHooks {
  provisionCommand?: string[];
  recoverCommand?: string[];
  powerCommand?: string[];
}

export interface HookRun {
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  /** the last OUTPUT_KEPT bytes of its stdout and stderr, trimmed */
  output: string;
  /** for people: "exited with 3: no BMC at 10.0.0.5", "timed out after 60 s" */
  summary: string;
}

const OUTPUT_KEPT = 4 * 1024;

/** Runs one hook to its end (or its timeout, or `signal`). */
export async function runHook(
  what: string,
  command: readonly string[],
  options: { env: NodeJS.ProcessEnv; cwd: string; timeoutMs: number; killGraceMs: number; signal?: AbortSignal },
): Promise<HookRun> {
  let tail = Buffer.alloc(0);
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > OUTPUT_KEPT) tail = tail.subarray(tail.length - OUTPUT_KEPT);
      done();
    },
  });
  const text = () => tail.toString('utf8').trim();
  let proc;
  try {
    proc = await spawnGroup(command, { cwd: options.cwd, env: options.env, output });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return {
      ok: false,
      exitCode: null,
      signal: null,
      output: '',
      summary: `${what} \`${command[0]}\` could not start: ${e.code ?? e.message}`,
    };
  }
  let stoppedFor: string | undefined;
  const stop = (why: string) => {
    stoppedFor ??= why;
    void stopGroup(proc.pid, options.killGraceMs);
  };
  const timer = setTimeout(() => stop(`timed out after ${Math.round(options.timeoutMs / 1000)} s`), options.timeoutMs);
  const onAbort = () => stop('cancelled');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await proc.exited;
    await Promise.race([proc.closed, new Promise((r) => setTimeout(r, 2_000))]);
    const out = text();
    const ok = stoppedFor === undefined && exit.code === 0;
    const how = stoppedFor ?? (exit.code !== null ? `exited with ${exit.code}` : `was killed by ${exit.signal}`);
    return {
      ok,
      exitCode: exit.code,
      signal: exit.signal,
      output: out,
      summary: ok
        ? `${what} succeeded`
        : `${what} \`${command.join(' ')}\` ${how}${out ? `: ${out.split('\n').slice(-5).join(' / ')}` : ''}`,
    };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
