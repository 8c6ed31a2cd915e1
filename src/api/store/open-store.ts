/**
 * @module Opens the result store the configuration names: PostgreSQL at
 * `TESTBAY_DATABASE_URL` (else the embedded PGlite in `<data dir>/db`, one process at a
 * time, held by a lock file), and the object store at `TESTBAY_OBJECT_STORE` (else the
 * folder `<data dir>/objects`); runs the migrations. One that cannot be reached is a
 * StoreConfigError naming the variable and the address: `testbay server` and `testbay
 * setup` exit 2 with it.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, type Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { FolderObjectStore } from './objects/folder-object-store.js';
import type { ObjectStore } from './objects/object-store.js';
import { S3ObjectStore } from './objects/s3-object-store.js';
import { SqlResultStore } from './sql-store.js';
import type { Db } from './sql/db.js';
import { openPgDb } from './sql/pg-db.js';
import { openPgliteDb } from './sql/pglite-db.js';
import { isProcessAlive } from '../../process-alive.js';

export class StoreConfigError extends ConfigError {}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

const reason = (err: unknown) => {
  const e = err as { message?: string; code?: string; name?: string };
  const text = e.message || e.code || e.name || String(err);
  return e.code && !text.includes(e.code) ? `${text} (${e.code})` : text;
};

/** Opens the database alone (no object store, no events): what `testbay setup` migrates. */
export async function openDatabase(
  store: Config['store'],
  log?: Logger,
): Promise<{ db: Db; release: () => Promise<void> }> {
  if (store.databaseUrl) {
    const url = store.databaseUrl;
    const db = await openPgDb({
      url,
      poolSize: store.poolSize,
      onError: (err) => log?.warn('database connection error', { error: err.message }),
    }).catch((err: unknown) => {
      throw new StoreConfigError(`cannot reach the database TESTBAY_DATABASE_URL=${redactUrl(url)}: ${reason(err)}`);
    });
    return { db, release: () => Promise.resolve() };
  }
  const release = await lockEmbedded(store.embeddedDir);
  try {
    const db = await openPgliteDb(store.embeddedDir);
    return { db, release };
  } catch (err) {
    await release();
    throw new StoreConfigError(
      `cannot open the embedded database in ${store.embeddedDir} (TESTBAY_DATABASE_URL is not set): ${reason(err)}`,
    );
  }
}

export function objectStoreOf(store: Config['store']): ObjectStore {
  const o = store.objects;
  return o.kind === 's3'
    ? new S3ObjectStore({
        bucket: o.bucket,
        prefix: o.prefix,
        region: o.region,
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        ...(o.credentials ? { credentials: o.credentials } : {}),
      })
    : new FolderObjectStore(o.dir);
}

/** Checks the object store answers, or says which variable names the one that does not. */
export async function checkObjectStore(store: Config['store'], objects: ObjectStore): Promise<void> {
  await objects.check().catch((err: unknown) => {
    const o = store.objects;
    throw new StoreConfigError(
      o.kind === 's3'
        ? `cannot reach the object store TESTBAY_OBJECT_STORE=${o.url}${o.endpoint ? ` at TESTBAY_S3_ENDPOINT=${o.endpoint}` : ' (AWS S3; set TESTBAY_S3_ENDPOINT for another store)'}: ${reason(err)}`
        : `cannot use the object folder ${o.dir} (TESTBAY_OBJECT_STORE is not set): ${reason(err)}`,
    );
  });
}

export async function openResultStore(
  config: Config,
  log?: Logger,
  options: { sweepMs?: number } = {},
): Promise<SqlResultStore> {
  const objects = objectStoreOf(config.store);
  await checkObjectStore(config.store, objects);
  const { db, release } = await openDatabase(config.store, log);
  try {
    const store = await SqlResultStore.open(db, objects, log, options);
    const close = store.close.bind(store);
    store.close = async () => {
      await close();
      await release();
    };
    log?.info('result store open', {
      database: config.store.databaseUrl ? redactUrl(config.store.databaseUrl) : `embedded ${config.store.embeddedDir}`,
      objects: objects.location,
    });
    return store;
  } catch (err) {
    await db.close().catch(() => undefined);
    await release();
    throw err;
  }
}

/**
 * The embedded database's lock: `<dir>.lock` holds `hostname pid`. A lock left by a dead
 * process of this machine is taken over; one held by a live process is refused (PGlite
 * must not be opened twice: two writers would corrupt it).
 */
async function lockEmbedded(dir: string): Promise<() => Promise<void>> {
  const file = `${dir}.lock`;
  await fs.mkdir(path.dirname(file), { recursive: true });
  const mine = `${os.hostname()} ${process.pid}`;
  for (let tries = 0; tries < 3; tries++) {
    try {
      await fs.writeFile(file, mine, { flag: 'wx', mode: 0o600 });
      await fs.chmod(file, 0o600);
      return async () => {
        if ((await fs.readFile(file, 'utf8').catch(() => '')) === mine) await fs.rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const [host, pid] = (await fs.readFile(file, 'utf8').catch(() => '')).trim().split(' ');
      if (host === os.hostname() && Number(pid) === process.pid)
        throw new StoreConfigError(`the embedded database in ${dir} is open in this process already`);
      if (host === os.hostname() && Number(pid) > 0 && isProcessAlive(Number(pid))) {
        throw new StoreConfigError(
          `the embedded database in ${dir} is in use by process ${pid}: stop it first, or set TESTBAY_DATABASE_URL to a PostgreSQL server to run several API servers`,
        );
      }
      await fs.rm(file, { force: true });
    }
  }
  throw new StoreConfigError(`could not take the lock ${file} of the embedded database`);
}
