/**
 * @module The one logger: structured lines (`time level component message key=value…`) on
 * stderr, or JSON lines (TESTBAY_LOG_FORMAT=json), filtered by level (TESTBAY_LOG_LEVEL).
 * Both come from the config; the Temporal SDK's logger (workers/sdk-logger.ts) follows the
 * same level.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  /** the lowest level written */
  readonly level: Level;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export function createLogger(
  component: string,
  level: Level = 'info',
  write: (line: string) => void = (l) => process.stderr.write(l),
  format: LogFormat = 'text',
): Logger {
  const emit = (lvl: Level, message: string, fields: Record<string, unknown> = {}) => {
    if (order[lvl] < order[level]) return;
    const time = new Date().toISOString();
    if (format === 'json') {
      write(`${JSON.stringify({ time, level: lvl, component, message, ...fields })}\n`);
      return;
    }
    const extra = Object.entries(fields)
      .map(
        ([k, v]) =>
          `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v instanceof Error ? v.message : v)}`,
      )
      .join(' ');
    write(`${time} ${lvl.toUpperCase().padEnd(5)} ${component}: ${message}${extra ? ` ${extra}` : ''}\n`);
  };
  return {
    level,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (sub) => createLogger(`${component}/${sub}`, level, write, format),
  };
}

/** The logger of a process, with the level and format of its config. */
export function loggerFor(
  config: { logLevel: Level; logFormat: LogFormat },
  component: string,
  write?: (line: string) => void,
): Logger {
  return createLogger(component, config.logLevel, write, config.logFormat);
}
