/**
 * The one logger: levels filter, JSON lines when the config says json, children keep both,
 * and the Temporal SDK's logger (which carries workflows' log lines) follows the level of
 * the config instead of a fixed WARN.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger, loggerFor } from '../../src/logger.js';
import { sdkLevelOf, sdkLogger } from '../../src/workers/sdk-logger.js';

function capture() {
  const lines: string[] = [];
  return { lines, write: (l: string) => void lines.push(l) };
}

describe('logger', () => {
  it('writes the lines at or above its level, in text by default', () => {
    const out = capture();
    const log = createLogger('api', 'warn', out.write);
    log.debug('d');
    log.info('i');
    log.warn('careful', { host: 'h1', reason: 'two words' });
    log.error('bad');
    expect(out.lines).toHaveLength(2);
    expect(out.lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z WARN {2}api: careful host=h1 reason="two words"\n$/);
    expect(out.lines[1]).toMatch(/ERROR api: bad\n$/);
  });

  it('takes level and format from the config: TESTBAY_LOG_FORMAT=json gives one JSON object a line', () => {
    const out = capture();
    const config = loadConfig({ TESTBAY_LOG_LEVEL: 'debug', TESTBAY_LOG_FORMAT: 'json' });
    expect(config.logFormat).toBe('json');
    const log = loggerFor(config, 'control', out.write).child('scheduler');
    expect(log.level).toBe('debug');
    log.debug('lease granted', { host: 'h2', jobs: 3 });
    expect(out.lines).toHaveLength(1);
    expect(JSON.parse(out.lines[0]!)).toEqual({
      time: expect.stringMatching(/Z$/),
      level: 'debug',
      component: 'control/scheduler',
      message: 'lease granted',
      host: 'h2',
      jobs: 3,
    });
    // The environment alone does not switch the format: only the config does.
    const text = capture();
    loggerFor(loadConfig({}), 'api', text.write).info('plain');
    expect(text.lines[0]).toMatch(/INFO {2}api: plain\n$/);
    expect(() => loadConfig({ TESTBAY_LOG_FORMAT: 'xml' })).toThrow(/TESTBAY_LOG_FORMAT/);
  });

  it("passes the SDK's (and so the workflows') lines at the configured level, each at its own level", () => {
    expect(sdkLevelOf('debug')).toBe('DEBUG');
    expect(sdkLevelOf('info')).toBe('INFO');
    expect(sdkLevelOf('error')).toBe('ERROR');
    const out = capture();
    const sdk = sdkLogger(createLogger('control', 'info', out.write, 'json'));
    sdk.debug('too detailed');
    sdk.trace('even more');
    sdk.info('re-scheduling aborted recipe set', { sdkComponent: 'workflow', workflowId: 'sub-abc', set: 1 });
    sdk.warn('slow');
    const entries = out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.map((e) => [e.level, e.message])).toEqual([
      ['info', 're-scheduling aborted recipe set'],
      ['warn', 'slow'],
    ]);
    expect(entries[0]).toMatchObject({ workflowId: 'sub-abc', set: 1 });
    const debug = capture();
    const verbose = sdkLogger(createLogger('host', 'debug', debug.write));
    verbose.debug('poll');
    verbose.trace('detail'); // below debug: dropped
    expect(debug.lines.map((l) => l.trim().split(' ').slice(1).join(' '))).toEqual(['DEBUG host: poll']);
  });
});
