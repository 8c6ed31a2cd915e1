/**
 * Review on the dashboard, in a real browser (Debian's chromium) against a real lab: a
 * failed job's page shows its scenario's history strip (each result a link, the last
 * good run and the first bad one since) and the investigation panel (the setting, the
 * commits and the test that changed since the last good run); a comment with a bug
 * reference becomes a link while markup in it stays text; the "Needs review" list loses
 * the job once it has a comment; "Rerun failed" on the submission page starts the rerun.
 * Under the dashboard's Content-Security-Policy, with no violation; screenshots under
 * test-output/screenshots/.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { osTest, TestLab } from '../helpers/lab.js';
import { collectProblems, launchChromium, type Chromium } from './chromium.js';

let lab: TestLab;
let browser: Chromium;
let url: string;
let repo: string;
const problems: string[] = [];
const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd: repo,
    encoding: 'utf8',
  }).trim();

beforeAll(async () => {
  [lab, browser] = await Promise.all([
    TestLab.start({
      name: 'browser-review',
      hosts: [{ id: 'v1', caps: { memory_gb: '16' } }],
      env: {
        TESTBAY_HEARTBEAT_TIMEOUT_MS: '15000',
        TESTBAY_HOST_PICKUP_TIMEOUT_MS: '20000',
        TESTBAY_BUG_REFS: JSON.stringify({ 'bsc#': 'https://bugzilla.example.com/show_bug.cgi?id=' }),
      },
    }),
    launchChromium(),
  ]);
  url = lab.api.baseUrl;
  collectProblems(browser.page, problems);
  browser.page.on('dialog', (d) => {
    problems.push(`a dialog opened: ${d.message()}`);
    void d.dismiss();
  });
  repo = path.join(lab.dir, 'tests-repo');
  await fs.mkdir(repo);
  git('init', '--quiet', '-b', 'main');
  await fs.writeFile(path.join(repo, 'suite.txt'), 'v1\n');
  git('add', '.');
  git('commit', '--quiet', '-m', 'first suite');
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await lab?.stop();
});

const install = (settings: Record<string, string> = {}) => ({
  jobs: [osTest('install', { MODULE_MS: '30', SCREENSHOTS: '0', ...settings }, { tests: { git: repo, ref: 'main' } })],
});

describe('review on the dashboard', () => {
  it('shows the history strip and the investigation panel, turns a bug reference into a link, and empties the review list by a comment', async () => {
    const good = (await lab.run(install())).jobs[0]!.id;
    await fs.appendFile(path.join(repo, 'suite.txt'), 'v2\n');
    git('commit', '--quiet', '-am', 'login: a faster needle');
    const failed = await lab.run(install({ FAIL_MODULE: 'login' }));
    expect(failed.result).toBe('failed');
    const bad = failed.jobs[0]!.id;
    const { page } = browser;

    await page.goto(`${url}/jobs/${bad}?token=${lab.tokens.submit}`);
    const strip = page.locator('.scenario-history .history-strip .strip-cell');
    await strip.nth(1).waitFor();
    const cells = await Promise.all(
      [0, 1].map(async (i) => [
        await strip.nth(i).getAttribute('data-job'),
        await strip.nth(i).getAttribute('data-result'),
      ]),
    );
    expect(cells).toEqual([
      [good, 'passed'],
      [bad, 'failed'],
    ]);
    expect(await strip.count()).toBe(2);
    expect(await page.locator('.strip-cell.strip-current').getAttribute('data-job')).toBe(bad);
    expect(await page.locator('[data-last-good] a').innerText()).toBe(good);
    expect(await page.locator('[data-first-bad] a').innerText()).toBe(bad);
    await browser.screenshot('review-history-strip');

    const panel = page.locator('.investigation');
    await panel.waitFor();
    expect(await panel.getAttribute('data-good')).toBe(good);
    expect(await panel.locator('[data-section=Settings]').innerText()).toContain('+ FAIL_MODULE=login');
    expect(await panel.locator('[data-section="Test code"]').innerText()).toContain('login: a faster needle');
    expect(await panel.locator('[data-section=Tests]').innerText()).toContain('newly failing: os-test.login');
    await panel.scrollIntoViewIfNeeded();
    await browser.screenshot('review-investigation');

    // The strip links to each run.
    await strip.first().click();
    await page.waitForURL((u) => u.pathname === `/jobs/${good}`);
    await page.locator('.scenario-history').waitFor();
    expect(await page.locator('.investigation').count()).toBe(0); // a passed job has nothing to investigate

    await page.getByRole('link', { name: 'Needs review', exact: true }).click();
    await page.locator(`.review-list tr[data-job="${bad}"]`).waitFor();
    await browser.screenshot('review-list-before-comment');

    await page.locator(`.review-list tr[data-job="${bad}"] a`).click();
    await page.waitForURL((u) => u.pathname === `/jobs/${bad}`);
    await page.locator('textarea[name=comment]').fill('login broken again, bsc#1234 <img src=x onerror=alert(1)>');
    await page.getByRole('button', { name: 'Comment', exact: true }).click();
    const ref = page.locator('.comment a.bug-ref');
    await ref.waitFor();
    expect(await ref.getAttribute('href')).toBe('https://bugzilla.example.com/show_bug.cgi?id=1234');
    expect(await ref.innerText()).toBe('bsc#1234');
    expect(await page.locator('.comment-text img').count()).toBe(0);
    expect(await page.locator('.comment-text').innerText()).toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator('.comment-meta b').innerText()).toBe('tester');
    await page.locator('input[name=label]').fill('needs-bug');
    await page.getByRole('button', { name: 'Add label' }).click();
    await page.locator('.label-chip[data-label=needs-bug]').waitFor();
    await browser.screenshot('review-comment-with-bug-link');

    await page.getByRole('link', { name: 'Needs review', exact: true }).click();
    await page.locator('.review-page .empty, .review-list').first().waitFor();
    expect(await page.locator(`.review-list tr[data-job="${bad}"]`).count()).toBe(0);
    await browser.screenshot('review-list-after-comment');

    // Rerun what failed, from the submission's page.
    await page.goto(`${url}/submissions/${failed.id}`);
    await page.locator('[data-action=rerun-failed]').click();
    await page.waitForURL(
      (u) => /^\/submissions\/[a-z0-9]+$/.test(u.pathname) && u.pathname !== `/submissions/${failed.id}`,
    );
    const rerun = new URL(page.url()).pathname.split('/').pop()!;
    expect((await lab.api.submission(rerun)).restartOf?.submissionId).toBe(failed.id);
    await lab.waitForSubmission(rerun);
    expect(problems).toEqual([]);
  }, 240_000);
});
