/**
 * @module The dashboard, served by the API at `/`: a small single-page app written in
 * TypeScript (./client), bundled with esbuild (dagre included) into one script the first
 * time a browser asks for it, and kept in memory. Nothing is fetched from elsewhere at
 * run time. Every page path returns the same HTML; the script routes on the path.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router, type Request, type Response } from 'express';
import type { Logger } from '../../logger.js';
import { DASHBOARD_SECURITY_HEADERS } from '../untrusted-content.js';

const CLIENT_DIR = fileURLToPath(new URL('./client/', import.meta.url));
export const DASHBOARD_PAGES = [
  '/',
  '/submissions',
  '/submissions/new',
  '/submissions/:id',
  '/jobs/:id',
  '/hosts',
  '/review',
];

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Testbay</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/app.css">
</head>
<body>
<div id="app"><p class="loading">Loading Testbay…</p></div>
<script type="module" src="/dashboard/app.js"></script>
</body>
</html>
`;

export interface DashboardBundle {
  js: string;
  css: string;
}

let bundle: Promise<DashboardBundle> | undefined;

/** Bundles the client once per process (about a second on a slow machine). */
export function dashboardBundle(): Promise<DashboardBundle> {
  bundle ??= buildBundle().catch((err: unknown) => {
    bundle = undefined;
    throw err;
  });
  return bundle;
}

async function buildBundle(): Promise<DashboardBundle> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [path.join(CLIENT_DIR, 'main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = result.outputFiles[0]?.text;
  if (js === undefined) throw new Error('esbuild produced no dashboard script');
  const css = await fs.readFile(path.join(CLIENT_DIR, 'style.css'), 'utf8');
  return { js, css };
}

export function dashboardRoutes(log: Logger): Router {
  const r = Router();
  const asset = (type: string, pick: (b: DashboardBundle) => string) => async (_req: Request, res: Response) => {
    try {
      const b = await dashboardBundle();
      res.type(type).set(DASHBOARD_SECURITY_HEADERS).set('cache-control', 'no-cache').send(pick(b));
    } catch (err) {
      log.error('could not build the dashboard', { error: err instanceof Error ? err.message : String(err) });
      res.status(500).type('text/plain').send('the dashboard could not be built; see the server log');
    }
  };
  r.get(
    '/dashboard/app.js',
    asset('text/javascript; charset=utf-8', (b) => b.js),
  );
  r.get(
    '/dashboard/app.css',
    asset('text/css; charset=utf-8', (b) => b.css),
  );
  r.get(DASHBOARD_PAGES, (_req, res) => {
    // Start bundling while the browser parses the page.
    void dashboardBundle().catch(() => undefined);
    res.type('html').set(DASHBOARD_SECURITY_HEADERS).set('cache-control', 'no-cache').send(HTML);
  });
  return r;
}
