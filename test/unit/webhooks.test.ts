/**
 * The pure rules of webhooks and commit statuses: which URLs are taken, what a filter
 * lets through, the CLI's filter words, commit states (aborted and cancelled are error,
 * never failure), where a commit status goes and where its token may go, and signatures
 * as GitHub makes them.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signBody, verifySignature } from '../../src/api/notify/signature.js';
import { validateSpec } from '../../src/domain/parse-spec.js';
import {
  commitStateOf,
  commitStatusUrl,
  filterFromWords,
  isUnder,
  passesFilter,
  webhookInput,
} from '../../src/domain/webhooks.js';

describe('webhook subscriptions', () => {
  it('take http and https URLs only, without credentials', () => {
    expect(webhookInput.safeParse({ url: 'https://ci.example/hook', events: ['job.done'] }).success).toBe(true);
    expect(webhookInput.safeParse({ url: 'http://127.0.0.1:9000/x', events: ['host.broken'] }).success).toBe(true);
    for (const url of [
      'ftp://x/y',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'not a url',
      'https://user:pw@ci.example/hook',
    ]) {
      const r = webhookInput.safeParse({ url, events: ['job.done'] });
      expect(r.success, url).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(['url']);
    }
    expect(webhookInput.safeParse({ url: 'https://x/', events: [] }).error?.issues[0]?.path).toEqual(['events']);
  });

  it('filter on name (globs), result, host and worker class; a key the event lacks does not narrow', () => {
    const facts = {
      names: ['nightly-x86', 'install'],
      result: 'failed' as const,
      hosts: ['h3'],
      workerClasses: ['qemu'],
    };
    expect(passesFilter({}, facts)).toBe(true);
    expect(passesFilter({ name: ['nightly-*'] }, facts)).toBe(true);
    expect(passesFilter({ name: ['weekly-*'] }, facts)).toBe(false);
    expect(passesFilter({ result: ['failed', 'aborted'] }, facts)).toBe(true);
    expect(passesFilter({ result: ['passed'] }, facts)).toBe(false);
    expect(passesFilter({ host: ['h*'], workerClass: ['qemu'] }, facts)).toBe(true);
    expect(passesFilter({ host: ['h1'] }, facts)).toBe(false);
    // host.broken: no result, no names
    expect(passesFilter({ result: ['failed'], name: ['x'] }, { names: [], hosts: ['h1'], workerClasses: [] })).toBe(
      true,
    );
    expect(passesFilter({ name: ['a.b'] }, { names: ['axb'], hosts: [], workerClasses: [] })).toBe(false);
  });

  it('reads --filter words', () => {
    expect(filterFromWords(['result=failed,aborted', 'name=nightly-*', 'result=skipped'])).toEqual({
      result: ['failed', 'aborted', 'skipped'],
      name: ['nightly-*'],
    });
    expect(() => filterFromWords(['oops'])).toThrow(/key=value/);
    expect(
      webhookInput.safeParse({ url: 'https://x/', events: ['job.done'], filter: filterFromWords(['colour=red']) }).error
        ?.issues[0]?.path,
    ).toEqual(['filter']);
  });
});

describe('commit statuses', () => {
  it('are error for an abort, a cancel or a skip, never failure', () => {
    expect(commitStateOf('passed')).toBe('success');
    expect(commitStateOf('failed')).toBe('failure');
    for (const r of ['aborted', 'cancelled', 'skipped', undefined] as const) expect(commitStateOf(r)).toBe('error');
  });

  it('go to <base>/repos/<repo>/statuses/<sha>, or the statusUrl, and the token only under the base', () => {
    expect(commitStatusUrl('https://api.github.com', { repo: 'org/repo', sha: 'ABC1234' })).toBe(
      'https://api.github.com/repos/org/repo/statuses/abc1234',
    );
    expect(commitStatusUrl('https://gitea.example/api/v1/', { repo: 'org/repo', sha: 'abc1234' })).toBe(
      'https://gitea.example/api/v1/repos/org/repo/statuses/abc1234',
    );
    expect(isUnder('https://gitea.example/api/v1', 'https://gitea.example/api/v1/repos/a/b/statuses/c')).toBe(true);
    expect(isUnder('https://gitea.example/api/v1', 'https://gitea.example/api/v10/x')).toBe(false);
    expect(isUnder('https://gitea.example/api/v1', 'https://evil.example/api/v1/x')).toBe(false);
    expect(isUnder('https://gitea.example/api/v1', 'http://gitea.example/api/v1/x')).toBe(false);
  });

  it('are asked for by the spec field commit, checked with paths', () => {
    const ok = validateSpec({
      commit: { repo: 'org/repo', sha: 'a'.repeat(40) },
      jobs: [{ name: 'a', workerClass: 'w', runner: { command: ['true'] } }],
    });
    expect(ok.ok && ok.submission.commit).toEqual({ repo: 'org/repo', sha: 'a'.repeat(40) });
    const bad = validateSpec({
      commit: { repo: 'no-slash', sha: 'xyz', statusUrl: 'ftp://x' },
      jobs: [{ name: 'a', workerClass: 'w', runner: { command: ['true'] } }],
    });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.issues.map((i) => i.path.join('.'))).toEqual([
      'commit.repo',
      'commit.sha',
      'commit.statusUrl',
    ]);
  });
});

describe('signatures', () => {
  it('are sha256=<hex HMAC of the body>, as GitHub signs', () => {
    const body = '{"event":"job.done"}';
    const expected = `sha256=${createHmac('sha256', "It's a Secret to Everybody").update(body).digest('hex')}`;
    expect(signBody("It's a Secret to Everybody", body)).toBe(expected);
    expect(verifySignature("It's a Secret to Everybody", body, expected)).toBe(true);
    expect(verifySignature("It's a Secret to Everybody", `${body} `, expected)).toBe(false);
    expect(verifySignature('another', body, expected)).toBe(false);
    expect(verifySignature('another', body, undefined)).toBe(false);
  });
});
