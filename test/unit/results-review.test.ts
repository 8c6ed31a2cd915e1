/**
 * The pure rules behind scenario history, investigation and review: a scenario's key,
 * what changed since the last good run, bug references as links, carry-over, and which
 * jobs "rerun what failed" runs again.
 */
import { describe, expect, it } from 'vitest';
import { investigate, type RunFacts } from '../../src/domain/investigation.js';
import { validateSpec } from '../../src/domain/parse-spec.js';
import { selectFailedRerun } from '../../src/domain/restart.js';
import { bugRefsOf, carryOver, commentParts } from '../../src/domain/review.js';
import { describeScenario, SCENARIO_KEY_PATTERN, scenarioOf, testScenarioOf } from '../../src/domain/scenario.js';
import type { JobView } from '../../src/domain/views.js';

describe('a scenario', () => {
  it('is the name and worker class, plus the settings the spec names, in one URL-safe key', () => {
    const s = scenarioOf({
      name: 'install',
      workerClass: 'qemu_x86_64',
      settings: { ARCH: 'x86_64', FLAVOR: 'DVD ISO', OTHER: 'x' },
      scenarioKeys: ['ARCH', 'FLAVOR', 'VERSION'],
    });
    expect(s.key).toBe('install@qemu_x86_64+ARCH=x86_64+FLAVOR=DVD~20ISO+VERSION=');
    expect(SCENARIO_KEY_PATTERN.test(s.key)).toBe(true);
    expect(describeScenario(s)).toBe('install @ qemu_x86_64 (ARCH=x86_64, FLAVOR=DVD ISO, VERSION=)');
    // Settings that are not scenario keys do not make another scenario.
    expect(
      scenarioOf({
        name: 'install',
        workerClass: 'qemu_x86_64',
        settings: { ARCH: 'x86_64', FLAVOR: 'DVD ISO', OTHER: 'y' },
        scenarioKeys: ['ARCH', 'FLAVOR', 'VERSION'],
      }).key,
    ).toBe(s.key);
    expect(scenarioOf({ name: 'a/b', workerClass: 'c', settings: {} }).key).toBe('a~2Fb@c');
    expect(testScenarioOf({ name: 'devices', workerClass: 'local', settings: {} }, 'net/eth0').key).toBe(
      'devices@local/net~2Feth0',
    );
  });
});

describe('what changed since the last good run', () => {
  const good: RunFacts = {
    jobId: 's1.1',
    submissionId: 's1',
    result: 'passed',
    endedAt: '2026-11-30T00:00:00Z',
    settings: { A: '1', B: '2' },
    argv: ['os-test'],
    tests: { git: 'repo', ref: 'main', commit: 'aaa' },
    assets: [
      { name: 'disk', sha256: 'x' },
      { name: 'old', sha256: 'o' },
    ],
    hostId: 'h1',
    capabilities: { memory_gb: '16' },
    testResults: { boot: 'passed', install: 'passed', gone: 'passed', fixed: 'failed' },
  };
  it('lists only what differs', () => {
    const bad: RunFacts = {
      ...good,
      jobId: 's2.1',
      submissionId: 's2',
      result: 'failed',
      settings: { A: '1', B: '3', C: 'new' },
      argv: ['os-test', '--fast'],
      tests: { git: 'repo', ref: 'main', commit: 'bbb' },
      assets: [
        { name: 'disk', sha256: 'y' },
        { name: 'new', sha256: 'n' },
      ],
      hostId: 'h2',
      capabilities: { memory_gb: '8' },
      testResults: { boot: 'passed', install: 'failed', fixed: 'passed', added: 'passed' },
    };
    const r = investigate(bad, good, ['bbb fix the boot', 'abc tweak']);
    expect(r).toEqual({
      jobId: 's2.1',
      lastGood: { jobId: 's1.1', submissionId: 's1', endedAt: '2026-11-30T00:00:00Z' },
      settings: { added: { C: 'new' }, removed: {}, changed: { B: { before: '2', after: '3' } } },
      argv: { before: ['os-test'], after: ['os-test', '--fast'] },
      testCode: { commit: { before: 'aaa', after: 'bbb' }, log: ['bbb fix the boot', 'abc tweak'] },
      assets: {
        added: [{ name: 'new', sha256: 'n' }],
        removed: [{ name: 'old', sha256: 'o' }],
        changed: [{ name: 'disk', sha256: { before: 'x', after: 'y' } }],
      },
      host: {
        id: { before: 'h1', after: 'h2' },
        capabilities: { added: {}, removed: {}, changed: { memory_gb: { before: '16', after: '8' } } },
      },
      tests: { newlyFailing: ['install'], newlyPassing: ['fixed'], appeared: ['added'], disappeared: ['gone'] },
    });
  });
  it('says so when there is no good run', () => {
    expect(investigate(good, undefined)).toEqual({
      jobId: 's1.1',
      lastGood: { none: 'no passed run of this scenario is on record' },
    });
  });
});

describe('review', () => {
  const patterns = { 'bsc#': 'https://bugzilla.suse.com/show_bug.cgi?id=', 'gh#': 'https://github.com/' };
  it('turns bug references into links and leaves the rest as text (never HTML)', () => {
    expect(commentParts('fails since bsc#1234, see gh#org/repo#12 <b>x</b>', patterns)).toEqual([
      { text: 'fails since ' },
      { ref: 'bsc#1234', url: 'https://bugzilla.suse.com/show_bug.cgi?id=1234' },
      { text: ', see ' },
      { ref: 'gh#org/repo#12', url: 'https://github.com/org/repo/issues/12' },
      { text: ' <b>x</b>' },
    ]);
    expect(bugRefsOf('abcbsc#1 and bsc#2', patterns)).toEqual(['bsc#2']);
    expect(commentParts('no refs', {})).toEqual([{ text: 'no refs' }]);
  });
  it('carries a bug reference over to a new failure of the same tests, and only then', () => {
    const previous = { jobId: 's1.1', failedTests: ['a', 'b'], bugRefs: ['bsc#1', 'bsc#1'] };
    expect(carryOver({ jobId: 's2.1', failedTests: ['b', 'a'] }, previous)).toEqual({
      from: 's1.1',
      bugRefs: ['bsc#1'],
      text: 'carried over from s1.1: bsc#1',
    });
    expect(carryOver({ jobId: 's2.1', failedTests: ['a'] }, previous)).toBeUndefined();
    expect(carryOver({ jobId: 's2.1', failedTests: ['a', 'b'] }, { ...previous, bugRefs: [] })).toBeUndefined();
    expect(carryOver({ jobId: 's2.1', failedTests: [] }, undefined)).toBeUndefined();
  });
});

describe('rerun what failed', () => {
  const parsed = validateSpec({
    defaults: { workerClass: 'local', runner: { command: ['t'] } },
    jobs: [
      { name: 'install' },
      { name: 'desktop', startDirectlyAfter: 'install' },
      { name: 'server', parallelWith: 'client' },
      { name: 'client' },
      { name: 'report', startAfter: ['desktop', 'server'] },
      { name: 'fine' },
    ],
  });
  if (!parsed.ok) throw new Error('bad spec');
  const view = (results: Record<string, string>): { jobs: JobView[] } => ({
    jobs: Object.entries(results).map(([name, kind], i) => ({
      id: `s.${i}`,
      name,
      setNumber: 1,
      attempt: 1,
      workerClass: 'local',
      state: 'done',
      result: { kind, reason: 'r' } as NonNullable<JobView['result']>,
    })),
  });
  it('reruns failed, aborted and skipped jobs with the chain before them and their partners; passed parents are not rerun', () => {
    const again = selectFailedRerun(
      parsed.submission,
      view({
        install: 'passed',
        desktop: 'failed',
        server: 'aborted',
        client: 'passed',
        report: 'skipped',
        fine: 'passed',
      }),
    )!;
    expect(again.jobs.map((j) => j.name)).toEqual(['install', 'desktop', 'server', 'client', 'report']);
    expect(again.jobs.find((j) => j.name === 'report')!.startAfter).toEqual(['desktop', 'server']);
  });
  it('drops the edge to a passed parent that does not run again, and has nothing to do when all passed', () => {
    const again = selectFailedRerun(
      parsed.submission,
      view({
        install: 'passed',
        desktop: 'passed',
        server: 'passed',
        client: 'passed',
        report: 'failed',
        fine: 'passed',
      }),
    )!;
    expect(again.jobs.map((j) => [j.name, j.startAfter])).toEqual([['report', []]]);
    expect(
      selectFailedRerun(
        parsed.submission,
        view({
          install: 'passed',
          desktop: 'passed',
          server: 'passed',
          client: 'passed',
          report: 'passed',
          fine: 'passed',
        }),
      ),
    ).toBeUndefined();
  });
});
