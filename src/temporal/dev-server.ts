/**
 * @module Starts a Temporal dev server (`temporal server start-dev`) as a child process and
 * waits until it answers. Used by `testbay dev` (persisted to a file, with the Web UI) and
 * by the test suite (one server per run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';

export interface DevServerOptions {
  bin: string;
  port: number;
  /** Web UI port; omit for a headless server */
  uiPort?: number;
  /** SQLite file; omit for an in-memory server */
  dbFile?: string;
  logFile: string;
  /** faster, less durable SQLite (tests) */
  fast?: boolean;
  extraArgs?: string[];
}

export interface DevServer {
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Dynamic config of every dev server started here. The dev server has one history shard,
 * and each shard reads its transfer queue (the step that hands a new workflow task, a
 * signal to another workflow or a child's start on to its target) at most
 * `transferProcessorMaxPollRPS` times a second, 20 by default: every such hop on a job's way
 * from POST to runner waited up to 50 ms for the shard's next read (bench/dispatch). A
 * cluster spreads workflows over hundreds of shards, each with its own limit.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Record<string, unknown> = {
  'history.transferProcessorMaxPollRPS': 1000,
  'history.transferProcessorMaxPollHostRPS': 1000,
};

export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  await fs.mkdir(path.dirname(o.logFile), { recursive: true });
  if (o.dbFile) await fs.mkdir(path.dirname(o.dbFile), { recursive: true });
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(o.port), '--log-level', 'warn'];
  args.push(...(o.uiPort !== undefined ? ['--ui-port', String(o.uiPort)] : ['--headless']));
  if (o.dbFile) args.push('--db-filename', o.dbFile);
  if (o.fast) args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=off');
  for (const [key, value] of Object.entries(DEV_SERVER_DYNAMIC_CONFIG))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  args.push(...(o.extraArgs ?? []));
  const log = createWriteStream(o.logFile, { flags: 'a' });
  const child = spawn(o.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Two writers: neither ends the log, the child's end does (a restarted server opens its own).
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  child.once('close', () => log.end());
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
  const address = `127.0.0.1:${o.port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      const tail = (await fs.readFile(o.logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
      throw new Error(`Temporal dev server ${exited} (is port ${o.port} free?). Last lines of ${o.logFile}:\n${tail}`);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        // Not left running behind the error: a caller that tries again needs the port.
        child.kill('SIGKILL');
        throw new Error(`Temporal dev server did not answer on ${address} within 60 s; see ${o.logFile}`);
      }
      await sleep(200);
    }
  }
  return {
    address,
    process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
