/**
 * @module The host's test code cache: one bare mirror per repository under
 * `<cache>/git/`, cloned once and then only fetched; each job gets its ref checked out
 * into its own work dir (a clone that shares the mirror's objects, so it costs no copy).
 * git runs with argv arrays (never a shell), `--` before every URL and path, refs that
 * could pass for an option refused, without prompts, under a timeout, and with an
 * environment of its own: none of the host's secrets.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TestCode } from '../../domain/job.js';
import { withFileLock } from './file-lock.js';

/** Test code that cannot be had: clone or fetch failed, unknown ref. The job aborts. */
export class TestCodeError extends Error {}

export interface CheckedOut {
  dir: string;
  commit: string;
  /** what the cache had to do: clone the repository, or only fetch */
  mirror: 'cloned' | 'fetched';
  durationMs: number;
  /** `git log --oneline` up to the commit from the mirror, newest first (at most GIT_LOG_LINES): what an investigation shows between two runs */
  log?: string[];
}

/** Commits of history kept with each job's checkout. */
export const GIT_LOG_LINES = 200;

/** A URL without its password or token, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@\s]*@/, '//***@');
}

const isAbort = (err: unknown) => (err as Error | undefined)?.name === 'AbortError';

/** The promise, or an AbortError as soon as the signal aborts (the work itself goes on for others). */
function untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** What git gets of the host's environment: enough to find itself, its config and an ssh agent or proxy; no tokens. */
const GIT_PASS_THROUGH = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'USER',
  'LOGNAME',
  'SSH_AUTH_SOCK',
  'GIT_SSH_COMMAND',
  'GIT_SSL_CAINFO',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
];

export function gitEnv(hostEnv: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of GIT_PASS_THROUGH) if (hostEnv[key] !== undefined) env[key] = hostEnv[key];
  return {
    ...env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: 'true',
    SSH_ASKPASS: 'true',
    GIT_SSH_COMMAND: env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes',
  };
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).pop() ?? '';
}

export class GitCache {
  readonly dir: string;
  private readonly inflight = new Map<string, Promise<'cloned' | 'fetched'>>();

  constructor(
    cacheDir: string,
    private readonly timeoutMs: number,
  ) {
    this.dir = path.join(cacheDir, 'git');
  }

  mirrorOf(url: string): string {
    const name =
      url
        .replace(/\/+$/, '')
        .split(/[/:]/)
        .pop()!
        .replace(/\.git$/, '')
        .replace(/[^A-Za-z0-9._-]/g, '_') || 'repo';
    return path.join(this.dir, `${name}-${createHash('sha256').update(url).digest('hex').slice(0, 12)}.git`);
  }

  /**
   * Brings the mirror up to date (one clone or fetch for concurrent callers) and checks `ref`
   * out into `dest`. `dissociate`: the checkout gets its own copy of the objects instead of
   * borrowing the mirror's (a runner of another user cannot read the host's cache).
   */
  async checkout(
    code: TestCode,
    dest: string,
    signal?: AbortSignal,
    options: { dissociate?: boolean } = {},
  ): Promise<CheckedOut> {
    const started = Date.now();
    // Checked on the host too: a ref like `--output=…` would be taken for an option.
    if (code.ref.startsWith('-')) throw new TestCodeError(`ref \`${code.ref}\` is not a ref: it starts with "-"`);
    if (code.git.startsWith('-')) throw new TestCodeError(`test code URL \`${redactUrl(code.git)}\` starts with "-"`);
    const mirror = this.mirrorOf(code.git);
    const how = await this.sync(code.git, signal);
    let commit: string;
    try {
      commit = (
        await this.git(['rev-parse', '--verify', '--quiet', `${code.ref}^{commit}`], { cwd: mirror, signal })
      ).trim();
    } catch {
      throw new TestCodeError(`ref \`${code.ref}\` not found in ${redactUrl(code.git)}`);
    }
    await fs.rm(dest, { recursive: true, force: true });
    await this.git(
      [
        'clone',
        '--quiet',
        '--shared',
        ...(options.dissociate ? ['--dissociate'] : []),
        '--no-checkout',
        '--',
        mirror,
        dest,
      ],
      { signal },
      `could not check out ${redactUrl(code.git)}`,
    );
    await this.git(
      ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', commit],
      { cwd: dest, signal },
      `could not check out ${redactUrl(code.git)} at ${commit}`,
    );
    // The history up to this commit, for the investigation of a later failure (best effort).
    const log = await this.git(
      ['log', '--oneline', '--no-decorate', '--no-color', `-n${GIT_LOG_LINES}`, commit, '--'],
      { cwd: mirror, signal },
    )
      .then((out) =>
        out
          .split('\n')
          .filter(Boolean)
          .map((line) => line.slice(0, 300)),
      )
      .catch(() => undefined);
    return { dir: dest, commit, mirror: how, durationMs: Date.now() - started, ...(log ? { log } : {}) };
  }

  /**
   * One clone or fetch per repository for concurrent callers. The shared one runs under the
   * signal of the caller that started it; a caller that joined it stops waiting on its own
   * signal, and when the shared one was aborted by its starter (that job was cancelled), the
   * others do it again themselves instead of failing with it.
   */
  private async sync(url: string, signal?: AbortSignal): Promise<'cloned' | 'fetched'> {
    for (;;) {
      signal?.throwIfAborted();
      let shared = this.inflight.get(url);
      const joined = shared !== undefined;
      if (!shared) {
        shared = this.syncNow(url, signal).finally(() => this.inflight.delete(url));
        this.inflight.set(url, shared);
      }
      try {
        return await (joined ? untilAborted(shared, signal) : shared);
      } catch (err) {
        if (isAbort(err) && joined && !signal?.aborted) continue;
        throw err;
      }
    }
  }

  private async syncNow(url: string, signal?: AbortSignal): Promise<'cloned' | 'fetched'> {
    await fs.mkdir(this.dir, { recursive: true });
    const mirror = this.mirrorOf(url);
    return withFileLock(
      `${mirror}.lock`,
      async () => {
        if (await fs.stat(path.join(mirror, 'HEAD')).catch(() => undefined)) {
          await this.git(
            ['fetch', '--quiet', '--prune', '--tags', 'origin'],
            { cwd: mirror, signal },
            `could not fetch test code from ${redactUrl(url)}`,
          );
          return 'fetched';
        }
        const part = `${mirror}.part-${process.pid}`;
        await fs.rm(part, { recursive: true, force: true });
        try {
          await this.git(
            ['clone', '--quiet', '--mirror', '--', url, part],
            { signal },
            `could not clone test code from ${redactUrl(url)}`,
          );
          await fs.rename(part, mirror);
        } finally {
          await fs.rm(part, { recursive: true, force: true });
        }
        return 'cloned';
      },
      signal,
    );
  }

  /** Runs git with an argv array; a failure becomes a TestCodeError saying `what` and git's last words. */
  private git(
    args: string[],
    options: { cwd?: string; signal?: AbortSignal | undefined },
    what = `git ${args[0]} failed`,
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        'git',
        args,
        {
          ...(options.cwd ? { cwd: options.cwd } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          timeout: this.timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: 16 * 1024 * 1024,
          env: gitEnv(),
        },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          if (err.name === 'AbortError') return reject(Object.assign(new Error(err.message), { name: 'AbortError' }));
          const why = err.killed
            ? `timed out after ${Math.round(this.timeoutMs / 1000)} s`
            : redactUrl(lastLine(stderr)) || err.message;
          reject(new TestCodeError(`${what}: ${why}`));
        },
      );
    });
  }
}
