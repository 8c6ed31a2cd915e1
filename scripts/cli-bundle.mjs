/**
 * The compiled copy of src/ that `bin/testbay.js` runs. Running the TypeScript through tsx
 * costs every process about half a second of CPU at start (a host 1.7 s, the CLI 0.7 s), and
 * a lab starts many: hosts, workers, each CLI call. So the command runs an esbuild bundle of
 * src/cli/main.ts instead, split so a command loads only its own modules, with source maps.
 *
 * The bundle lives in node_modules/.cache/testbay-cli/KEY, where KEY hashes every source
 * file's path, size and mtime (and this file): an edit makes the next start build a new
 * one (about half a second), so there is still no build step. `import.meta.url` keeps
 * meaning the source file's own URL, so files found next to a module (the dashboard's
 * client, the results worker, the workflows) are found where they are. Where the bundle
 * cannot be built or written, or with TESTBAY_TSX=1, the sources run through tsx as before.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');
const ENTRY = path.join(SRC, 'cli', 'main.ts');
export const CLI_CACHE = path.join(ROOT, 'node_modules', '.cache', 'testbay-cli');
/** Builds older than this are removed when a new one is made (a running process may still load chunks of a recent one). */
const KEEP_MS = 7 * 24 * 3600_000;

/** A hash of what the bundle is built from: each source file's path, size and mtime. */
function sourceKey() {
  const hash = createHash('sha256');
  const self = fs.statSync(fileURLToPath(import.meta.url));
  hash.update(`self ${self.size} ${self.mtimeMs}\n`);
  const files = [];
  for (const entry of fs.readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files.push(path.join(entry.parentPath ?? entry.path, entry.name));
  }
  for (const file of files.sort()) {
    const s = fs.statSync(file);
    hash.update(`${path.relative(SRC, file)} ${s.size} ${s.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * esbuild plugin, two rules of how the sources run under tsx: `import.meta.url` in a source
 * file stays that file's URL; and `./x.js` means `./x.ts` where both exist (runner-guard.js
 * is a script of its own, runner-guard.ts the module that starts it).
 */
const asSources = {
  name: 'as-sources',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      if (!args.importer.endsWith('.ts')) return undefined;
      const ts = path.resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
      return fs.existsSync(ts) ? { path: ts } : undefined;
    });
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await fs.promises.readFile(args.path, 'utf8');
      return {
        contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
        loader: 'ts',
      };
    });
  },
};

async function build(dir) {
  const { build: esbuild } = await import('esbuild');
  const tmp = `${dir}.tmp-${process.pid}`;
  await esbuild({
    entryPoints: { main: ENTRY },
    outdir: tmp,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    plugins: [asSources],
    logLevel: 'silent',
  });
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    // Another process built the same sources first: its copy serves.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(path.join(dir, 'main.mjs'))) throw err;
  }
  const now = Date.now();
  for (const name of fs.readdirSync(CLI_CACHE)) {
    const other = path.join(CLI_CACHE, name);
    if (other !== dir && now - fs.statSync(other).mtimeMs > KEEP_MS) fs.rmSync(other, { recursive: true, force: true });
  }
}

/** The bundle's entry (built first if the sources changed), or undefined where it cannot be had. */
export async function cliBundle() {
  if (process.env.TESTBAY_TSX === '1') return undefined;
  try {
    const dir = path.join(CLI_CACHE, sourceKey());
    const main = path.join(dir, 'main.mjs');
    if (!fs.existsSync(main)) {
      fs.mkdirSync(CLI_CACHE, { recursive: true });
      await build(dir);
    }
    return pathToFileURL(main).href;
  } catch {
    return undefined;
  }
}
