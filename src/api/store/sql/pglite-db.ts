/**
 * @module The embedded engine: PGlite (PostgreSQL in WebAssembly) persisted to a folder of
 * the data dir, opened by one process at a time. Its folder is private like everything
 * the store writes: PGlite's Node file system creates files with mode 0666 minus the
 * umask, so the file system here sets 0700/0600 on every file and folder it creates and
 * on what initdb left, whatever the umask.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { NodeFS } from '@electric-sql/pglite/nodefs';
import { isoTimestamp, type Db, type Queryable } from './db.js';

/** The slice of Emscripten's FS and NODEFS this needs. */
interface EmscriptenModule {
  FS: { isDir(mode: number): boolean };
  NODEFS: {
    realPath(node: unknown): string;
    node_ops: Record<string, (...args: never[]) => unknown>;
    stream_ops: Record<string, (...args: never[]) => unknown>;
  };
}

type NodeFsInit = Awaited<ReturnType<NodeFS['init']>>;

class PrivateNodeFS extends NodeFS {
  override async init(...args: Parameters<NodeFS['init']>): Promise<NodeFsInit> {
    const result = await super.init(...args);
    const preRun = (result.emscriptenOpts.preRun ?? []) as unknown[];
    result.emscriptenOpts.preRun = [...preRun, privateFiles] as NonNullable<typeof result.emscriptenOpts.preRun>;
    return result;
  }
}

/** New files 0600, new folders 0700; a chmod never adds group or other bits. */
function privateFiles(mod: EmscriptenModule): void {
  const { node_ops: nodeOps, stream_ops: streamOps } = mod.NODEFS;
  const mknod = nodeOps.mknod as (this: unknown, ...a: unknown[]) => { mode: number };
  nodeOps.mknod = function (this: unknown, ...a: unknown[]) {
    const node = mknod.apply(this, a);
    fs.chmodSync(mod.NODEFS.realPath(node), mod.FS.isDir(node.mode) ? 0o700 : 0o600);
    return node;
  };
  for (const ops of [nodeOps, streamOps]) {
    const setattr = ops.setattr as (this: unknown, node: unknown, attr: { mode?: number }) => unknown;
    ops.setattr = function (this: unknown, node: unknown, attr: { mode?: number }) {
      return setattr.call(this, node, attr.mode == null ? attr : { ...attr, mode: attr.mode & ~0o077 });
    };
  }
}

/** chmod -R: folders 0700, files 0600. */
function makePrivate(p: string): void {
  const st = fs.lstatSync(p);
  if (st.isDirectory()) {
    if ((st.mode & 0o777) !== 0o700) fs.chmodSync(p, 0o700);
    for (const entry of fs.readdirSync(p)) makePrivate(path.join(p, entry));
  } else if (st.isFile() && (st.mode & 0o777) !== 0o600) {
    fs.chmodSync(p, 0o600);
  }
}

/** bytea's text form `\\x…` to a Buffer, and back. */
const hexToBuffer = (text: string): Buffer => Buffer.from(text.slice(2), 'hex');
const bufferToHex = (value: unknown): string => {
  if (!(value instanceof Uint8Array)) throw new TypeError(`expected bytes for a bytea parameter, got ${typeof value}`);
  return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
};

export async function openPgliteDb(dir: string): Promise<Db> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const pg = await PGlite.create({
    fs: new PrivateNodeFS(dir),
    extensions: { pg_trgm },
    parsers: { [types.INT8]: (v: string) => Number(v), [types.TIMESTAMPTZ]: isoTimestamp, [types.BYTEA]: hexToBuffer },
    // PGlite's own bytea serializer maps every byte through a JS string (~2 MB/s, holding
    // the thread for seconds per 4 MiB log chunk); Buffer's hex codec is ten times faster.
    serializers: { [types.BYTEA]: bufferToHex },
  });
  // What initdb wrote before the file system above was in place.
  makePrivate(dir);
  const asQueryable = (q: Pick<PGlite, 'query'>): Queryable => ({
    query: async <T extends object>(text: string, params?: readonly unknown[]) =>
      (await q.query<T>(text, params ? [...params] : undefined)).rows,
  });
  const db = asQueryable(pg);
  return {
    engine: 'pglite',
    query: (text, params) => db.query(text, params),
    transaction: (fn) => pg.transaction((tx) => fn(asQueryable(tx))),
    async listen(channel, onPayload) {
      // One process holds the folder: every notification comes from this instance.
      await pg.listen(channel, onPayload);
    },
    close: () => pg.close(),
  };
}
