/**
 * @module Routes the Temporal SDK's own logs, and the log lines of workflows and
 * activities (`log.info` in a workflow goes through the SDK), through Testbay's logger at
 * Testbay's level: TESTBAY_LOG_LEVEL=debug shows the SDK's debug lines, info (the
 * default) the workflows' info lines, and so on.
 */
import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import type { Level, Logger } from '../logger.js';
import { noteSdkLogEntry } from './task-failures.js';

let installed = false;

const SDK_LEVEL: Record<Level, LogLevel> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };

/** The SDK's level for one of ours. */
export function sdkLevelOf(level: Level): LogLevel {
  return SDK_LEVEL[level];
}

/** An SDK logger that writes into `log`, each entry at its own level (TRACE as debug). */
export function sdkLogger(log: Logger): DefaultLogger {
  // At least WARN, whatever our level: failed workflow tasks are counted even when not shown.
  const level = log.level === 'error' ? 'WARN' : sdkLevelOf(log.level);
  return new DefaultLogger(level, (entry: LogEntry) => {
    const fields = (entry.meta ?? {}) as Record<string, unknown>;
    noteSdkLogEntry(entry.message, fields);
    if (entry.level === 'ERROR') log.error(entry.message, fields);
    else if (entry.level === 'WARN') log.warn(entry.message, fields);
    else if (entry.level === 'INFO') log.info(entry.message, fields);
    else log.debug(entry.message, fields);
  });
}

/**
 * Installs the SDK's logger once per process, at the level of `log`. The SDK core's own
 * lines (at WARN and above, or DEBUG when asked) come through it too, not on the console:
 * "Failing workflow task" is one of them, and it is counted (task-failures.ts).
 */
export function installSdkLogger(log: Logger): void {
  if (installed) return;
  installed = true;
  const level = log.level === 'debug' ? 'DEBUG' : 'WARN';
  Runtime.install({
    logger: sdkLogger(log.child('sdk')),
    telemetryOptions: {
      logging: {
        forward: {},
        filter: makeTelemetryFilterString({ core: level, other: level === 'DEBUG' ? 'INFO' : 'ERROR' }),
      },
    },
  });
}
