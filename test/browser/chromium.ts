/**
 * Debian's chromium driven by playwright-core: headless, no sandbox (tests run as root),
 * nothing fetched from the network, a fresh profile per run. Missing chromium is an
 * error that says how to install it, never a silent skip.
 */
import { accessSync, constants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { inject } from 'vitest';

export const CHROMIUM = process.env.TESTBAY_CHROMIUM ?? '/usr/bin/chromium';

export interface Chromium {
  context: BrowserContext;
  page: Page;
  /** saves a full-page screenshot as test-output/screenshots/<name>.png and returns its path */
  screenshot(name: string, page?: Page): Promise<string>;
  close(): Promise<void>;
}

/** Collects what a page must never show: Content-Security-Policy refusals and uncaught errors. */
export function collectProblems(page: Page, problems: string[]): void {
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
}

export async function launchChromium(): Promise<Chromium> {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(
      `the browser tests need Debian's chromium at ${CHROMIUM}, and it is missing: run \`node scripts/setup.mjs\` as root (it installs it with apt-get) or \`apt-get install -y chromium\`, or point TESTBAY_CHROMIUM at a chromium binary`,
    );
  }
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 900 },
    timeout: 60_000,
  });
  context.setDefaultTimeout(45_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const dir = path.join(inject('testOutputDir'), 'screenshots');
  await fs.mkdir(dir, { recursive: true });
  return {
    context,
    page,
    async screenshot(name, which = page) {
      const file = path.join(dir, `${name}.png`);
      await which.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await context.close();
      await fs.rm(profile, { recursive: true, force: true });
    },
  };
}
