/**
 * @module The host's optional steps, built once per host process: fetching a job's assets
 * (the asset cache), checking out its test code (the git cache), releasing its assets when
 * it ends, and optimising PNGs before upload. Activities take them as hooks, so a test can
 * swap one function.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { JobRun } from '../../domain/job-run.js';
import type { Logger } from '../../logger.js';
import type { Prepare } from './artifact-sync.js';
import { AssetCache, type AssetLimits } from './asset-cache.js';
import { PngOptimiser } from './png-optimiser.js';
import { GitCache, redactUrl } from './test-code.js';

/** What a provisioning step may use: cancellation, a line in the job's log, a heartbeat. */
export interface StepContext {
  signal: AbortSignal;
  note: (line: string) => Promise<void>;
  heartbeat: (details: unknown) => void;
}

export interface HostSteps {
  /** downloads (or finds in the cache) the job's assets into assetsDir; returns name → path */
  assets?: (run: JobRun, assetsDir: string, ctx: StepContext) => Promise<Record<string, string>>;
  /** checks out the job's test code into testsDir; returns the commit */
  testCode?: (run: JobRun, testsDir: string, ctx: StepContext) => Promise<{ commit: string; log?: string[] }>;
  /** the job ended: its assets may be evicted */
  releaseAssets?: (jobId: string, workDir: string) => Promise<void>;
  /** turns a results file into what is uploaded (a losslessly optimised PNG) */
  prepare?: Prepare;
}

const mib = (bytes: number) => `${Math.round((bytes / 1024 ** 2) * 10) / 10} MiB`;

export interface CacheSettings {
  cacheDir: string;
  /** runners run as another user: checkouts get their own objects (that user cannot read the cache) */
  separateRunnerUser?: boolean;
  assetCacheMaxBytes: number;
  /** where assets may come from and how large they may be */
  assetLimits?: AssetLimits;
  gitTimeoutMs: number;
  log: Logger;
}

/** The real steps of a `testbay host`, over its caches. */
export function createHostSteps(settings: CacheSettings): HostSteps & { close(): Promise<void> } {
  const assets = new AssetCache(settings.cacheDir, settings.assetCacheMaxBytes, settings.log, settings.assetLimits);
  const git = new GitCache(settings.cacheDir, settings.gitTimeoutMs);
  const png = new PngOptimiser();
  return {
    assets: async (run, assetsDir, ctx) => {
      let lastBeat = 0;
      const provided = await assets.provide(run.jobId, run.assets, assetsDir, {
        signal: ctx.signal,
        onBytes: (asset, total) => {
          if (Date.now() - lastBeat < 500) return;
          lastBeat = Date.now();
          ctx.heartbeat({ step: 'assets', url: redactUrl(asset.url), bytes: total });
        },
      });
      for (const p of provided) {
        await ctx.note(
          `asset ${p.name}: ${p.downloaded ? 'downloaded' : 'cache hit'}, ${mib(p.sizeBytes)} in ${p.durationMs} ms (sha256 ${path.basename(p.file).slice(0, 12)}…)`,
        );
      }
      return Object.fromEntries(provided.map((p) => [p.name, p.path]));
    },
    testCode: async (run, testsDir, ctx) => {
      const code = run.tests!;
      const out = await git.checkout(code, testsDir, ctx.signal, { dissociate: settings.separateRunnerUser === true });
      await ctx.note(
        `tests ${redactUrl(code.git)} at ${code.ref}: ${out.commit} (${out.mirror === 'cloned' ? 'cloned into the cache' : 'cache fetched'}, ${out.durationMs} ms)`,
      );
      return { commit: out.commit, ...(out.log ? { log: out.log } : {}) };
    },
    releaseAssets: async (jobId, workDir) => {
      assets.release(jobId);
      // The host's own folder beside the runner's work dir: no runner can put links into it.
      await fs.rm(path.join(path.dirname(workDir), 'assets'), { recursive: true, force: true });
    },
    prepare: (name, sizeBytes, read, outFile) => png.prepare(name, sizeBytes, read, outFile),
    close: () => png.close(),
  };
}
