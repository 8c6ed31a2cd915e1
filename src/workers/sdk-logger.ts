/**
 * @module Routes the Temporal SDK's own logs through Testbay's logger (warnings and up,
 * so a busy worker does not drown the terminal).
 */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from '../logger.js';

let installed = false;

export function installSdkLogger(log: Logger, level: LogLevel = 'WARN'): void {
  if (installed) return;
  installed = true;
  const sdk = log.child('sdk');
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      const fields = (entry.meta ?? {}) as Record<string, unknown>;
      if (entry.level === 'ERROR') sdk.error(entry.message, fields);
      else if (entry.level === 'WARN') sdk.warn(entry.message, fields);
      else sdk.info(entry.message, fields);
    }),
  });
}
