/**
 * @module The one seam between the store's SQL and its two engines: PostgreSQL through
 * `pg` (production) and PGlite, PostgreSQL compiled to WebAssembly, in the data dir (the
 * embedded default). Both speak the same dialect, so the store writes plain SQL once;
 * this interface only runs it, in or out of a transaction, and listens for
 * notifications. Rows come back alike from both: int8 as numbers, timestamps as ISO
 * strings, bytea as Buffers (see `bytes`), json as values.
 */

export type Row = Record<string, unknown>;

export interface Queryable {
  /**
   * Runs one statement. A `name` makes it a prepared statement on PostgreSQL, planned once
   * per connection: for the hot statements, whose planning costs more than running them.
   */
  query<T extends object = Row>(text: string, params?: readonly unknown[], name?: string): Promise<T[]>;
}

export interface Db extends Queryable {
  readonly engine: 'postgres' | 'pglite';
  /** Runs `fn` in one READ COMMITTED transaction: committed when it returns, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * LISTENs on `channel` for as long as the database is open. `onReconnect` is called when
   * a lost listening connection is back: notifications sent meanwhile are gone, so whoever
   * listens should look again.
   */
  listen(channel: string, onPayload: (payload: string) => void, onReconnect: () => void): Promise<void>;
  close(): Promise<void>;
}

/** PostgreSQL's text form of a timestamptz (`2026-12-01 23:19:02.354+00`) as an ISO string. */
export const isoTimestamp = (text: string): string => new Date(text).toISOString();

/** A bytea value as a Buffer (pg gives Buffers, PGlite Uint8Arrays). */
export function bytes(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`expected bytea, got ${typeof value}`);
}

/** Escapes `%`, `_` and `\` for a LIKE pattern. */
export const likeEscape = (text: string): string => text.replace(/[\\%_]/g, (c) => `\\${c}`);

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * Whether an error means the database cannot be reached right now (down, restarting, the
 * connection cut): the request may be tried again later, nothing was written.
 */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (UNAVAILABLE_CODES.has(code)) return true;
  // SQLSTATE class 08 (connection exception), 57P01-57P03 (shut down, crashed, starting up)
  if (/^08/.test(code) || /^57P0[123]$/.test(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection timeout|Connection refused/i.test(
    message,
  );
}

/** SQLSTATE 53100 (disk full) and 53xxx (insufficient resources). */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^53/.test(code);
}
