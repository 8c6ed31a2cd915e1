/**
 * The pure parts around scenarios and review that the API and CLI build on: a scenario
 * key read back into its parts, a job record's scenario from its submission's spec,
 * `scenarioKeys` in the spec (defaults, jobs, batch runs), the configured bug-reference
 * patterns, the git log between two runs, and how the CLI prints an investigation.
 */
import { describe, expect, it } from 'vitest';
import { logBetween } from '../../src/api/routes/scenarios.js';
import type { JobRecord } from '../../src/api/store/result-store.js';
import { investigationLines } from '../../src/cli/review.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { validateSpec } from '../../src/domain/parse-spec.js';
import { parseScenarioKey, scenarioOf, scenarioOfRecord, testScenarioOf } from '../../src/domain/scenario.js';

const spec = (input: unknown) => {
  const parsed = validateSpec(input);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.submission;
};

describe('scenario keys', () => {
  it('read back into name, worker class, settings and test id', () => {
    const s = scenarioOf({
      name: 'in.stall',
      workerClass: 'qemu_x86_64',
      settings: { FLAVOR: 'DVD ISO/x', ARCH: 'ä' },
      scenarioKeys: ['FLAVOR', 'ARCH', 'NONE'],
    });
    expect(parseScenarioKey(s.key)).toEqual({
      name: 'in.stall',
      workerClass: 'qemu_x86_64',
      settings: { FLAVOR: 'DVD ISO/x', ARCH: 'ä', NONE: '' },
    });
    expect(
      parseScenarioKey(testScenarioOf({ name: 'suite', workerClass: 'local', settings: {} }, 'net/eth0').key),
    ).toEqual({ name: 'suite', workerClass: 'local', settings: {}, testId: 'net/eth0' });
    for (const bad of ['', 'noworkerclass', 'a@b c', 'a@b/', '<x>@y', 'a@b+K'])
      expect(parseScenarioKey(bad), bad).toBeUndefined();
  });

  it("of a job record come from its submission's spec: scenarioKeys from defaults or the job; a batch's from its run", () => {
    const submission = spec({
      defaults: {
        workerClass: 'local',
        runner: { command: ['t'] },
        scenarioKeys: ['ARCH'],
        settings: { ARCH: 'x86_64' },
      },
      jobs: [
        { name: 'install', settings: { VERSION: '16' } },
        { name: 'own', scenarioKeys: ['VERSION', 'VERSION'], settings: { VERSION: '15' } },
      ],
      batchRuns: [{ name: 'suite', tests: ['a'] }],
    });
    expect(submission.jobs.map((j) => j.scenarioKeys)).toEqual([['ARCH'], ['VERSION']]);
    expect(scenarioOfRecord(submission, 'install')?.key).toBe('install@local+ARCH=x86_64');
    expect(scenarioOfRecord(submission, 'own')?.key).toBe('own@local+VERSION=15');
    expect(scenarioOfRecord(submission, 'suite#3')?.key).toBe('suite@local+ARCH=x86_64');
    expect(scenarioOfRecord(submission, 'health-check')).toBeUndefined();
  });

  it('refuses a scenario key that is not a setting name, with its path', () => {
    const parsed = validateSpec({
      jobs: [{ name: 'a', workerClass: 'local', runner: { command: ['t'] }, scenarioKeys: ['not a name'] }],
    });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues[0]?.path).toEqual(['jobs', 0, 'scenarioKeys', 0]);
  });
});

describe('review configuration', () => {
  it('takes bug-reference patterns as JSON and refuses what is not prefix → http(s) URL', () => {
    expect(loadConfig({ TESTBAY_BUG_REFS: '{"bsc#": "https://bugzilla.suse.com/show_bug.cgi?id="}' }).review).toEqual({
      bugRefs: { 'bsc#': 'https://bugzilla.suse.com/show_bug.cgi?id=' },
      carryOver: true,
      publicBadges: false,
    });
    expect(loadConfig({ TESTBAY_CARRY_OVER: '0', TESTBAY_PUBLIC_BADGES: '1' }).review).toEqual({
      bugRefs: {},
      carryOver: false,
      publicBadges: true,
    });
    expect(() => loadConfig({ TESTBAY_BUG_REFS: 'bsc#' })).toThrow(ConfigError);
    expect(() => loadConfig({ TESTBAY_BUG_REFS: '{"bsc#": "javascript:alert(1)"}' })).toThrow(/TESTBAY_BUG_REFS/);
    expect(() => loadConfig({ TESTBAY_BUG_REFS: '{"bsc": "https://x/"}' })).toThrow(/ending in "#"/);
  });
});

describe('the git log between two runs', () => {
  const record = (log?: string[]) =>
    ({ testCode: { commit: 'ccc333', ...(log ? { log } : {}) } }) as unknown as JobRecord;
  it('is the part of the recorded log above the good commit, or says why there is none', () => {
    expect(logBetween(record(['ccc333 third', 'bbb222 second', 'aaa111 first']), 'aaa111ffff')).toEqual({
      log: ['ccc333 third', 'bbb222 second'],
    });
    expect(logBetween(record(['ccc333 third']), 'ccc333')).toEqual({});
    expect(logBetween(record(['ccc333 third']), 'ddd444').note).toMatch(/not among the 1 commits/);
    expect(logBetween(record(), 'ddd444').note).toMatch(/no git log/);
  });
});

describe('testbay investigate', () => {
  it('prints only what differs, or says that no good run exists', () => {
    expect(
      investigationLines({ jobId: 's.1', lastGood: { none: 'no passed run of this scenario is on record' } }),
    ).toEqual(['job s.1', 'no good run to compare with: no passed run of this scenario is on record']);
    const lines = investigationLines({
      jobId: 's.2',
      result: { kind: 'failed', reason: 'x' },
      lastGood: { jobId: 's.1', submissionId: 's', endedAt: '2026-12-01T00:00:00.000Z' },
      settings: { added: { A: '1' }, removed: {}, changed: {} },
      testCode: { commit: { before: 'aaa', after: 'bbb' }, log: ['bbb fix'] },
      tests: { newlyFailing: ['boot'], newlyPassing: [], appeared: [], disappeared: [] },
    });
    expect(lines).toContain('  + A=1');
    expect(lines).toContain('    bbb fix');
    expect(lines).toContain('  newly failing: boot');
    expect(lines.join('\n')).not.toMatch(/assets|host/);
  });
});
