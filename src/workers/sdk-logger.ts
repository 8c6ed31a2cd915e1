/**
 * @module Routes the Temporal SDK's own logs, and the log lines of workflows and
 * activities (`log.info` in a workflow goes through the SDK), through Testbay's logger at
 * Testbay's level: TESTBAY_LOG_LEVEL=debug shows the SDK's debug lines, info (the
 * default) the workflows' info lines, and so on.
 */
import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import type { Level, Logger } from '../logger.js';

let installed = false;

const SDK_LEVEL: Record<Level, LogLevel> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };

/** The SDK's level for one of ours. */
export function sdkLevelOf(level: Level): LogLevel {
  return SDK_LEVEL[level];
}

/** An SDK logger that writes into `log`, each entry at its own level (TRACE as debug). */
export function sdkLogger(log: Logger): DefaultLogger {
  return new DefaultLogger(sdkLevelOf(log.level), (entry: LogEntry) => {
    const fields = (entry.meta ?? {}) as Record<string, unknown>;
    if (entry.level === 'ERROR') log.error(entry.message, fields);
    else if (entry.level === 'WARN') log.warn(entry.message, fields);
    else if (entry.level === 'INFO') log.info(entry.message, fields);
    else log.debug(entry.message, fields);
  });
}

/** Installs the SDK's logger once per process, at the level of `log`. */
export function installSdkLogger(log: Logger): void {
  if (installed) return;
  installed = true;
  Runtime.install({ logger: sdkLogger(log.child('sdk')) });
}
