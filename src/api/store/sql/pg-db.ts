/**
 * @module The production engine: a PostgreSQL server through a `pg` pool, plus one
 * dedicated connection for LISTEN (a pooled connection cannot hold a LISTEN). A lost
 * listening connection is re-opened every second until it is back.
 */
import pg from 'pg';
import { isoTimestamp, type Db, type Queryable } from './db.js';

const INT8 = 20;
const TIMESTAMPTZ = 1184;

const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (v: string) => unknown {
    if (oid === INT8) return (v: string) => Number(v);
    if (oid === TIMESTAMPTZ) return isoTimestamp;
    return pg.types.getTypeParser(oid, format ?? 'text') as (v: string) => unknown;
  },
};

export interface PgOptions {
  url: string;
  poolSize: number;
  connectTimeoutMs?: number;
  /** told about errors of idle or listening connections (they must not crash the process) */
  onError?: (err: Error) => void;
}

export async function openPgDb(options: PgOptions): Promise<Db> {
  const connectionTimeoutMillis = options.connectTimeoutMs ?? 5_000;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize,
    types: typeParsers,
    connectionTimeoutMillis,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (err) => options.onError?.(err));
  // Fail now, with the reason, if the server cannot be reached.
  await pool.query('SELECT 1');

  const asQueryable = (q: pg.Pool | pg.PoolClient): Queryable => ({
    query: async <T extends object>(text: string, params?: readonly unknown[], name?: string) =>
      (await q.query({ text, ...(params ? { values: [...params] } : {}), ...(name ? { name } : {}) })).rows as T[],
  });
  let closed = false;
  const listeners: pg.Client[] = [];

  return {
    engine: 'postgres',
    query: (text, params, name) => asQueryable(pool).query(text, params, name),
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const value = await fn(asQueryable(client));
        await client.query('COMMIT');
        return value;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e as Error;
        });
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async listen(channel, onPayload, onReconnect) {
      const connect = async (): Promise<void> => {
        const client = new pg.Client({ connectionString: options.url, types: typeParsers, connectionTimeoutMillis });
        client.on('notification', (n) => {
          if (n.channel === channel && n.payload !== undefined) onPayload(n.payload);
        });
        const ignore = () => undefined;
        client.on('error', ignore); // while connecting: the rejection below says it
        try {
          await client.connect();
          await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        } catch (err) {
          await client.end().catch(ignore);
          throw err;
        }
        let lost = false;
        const reconnect = (err?: Error) => {
          if (lost) return;
          lost = true;
          listeners.splice(listeners.indexOf(client), 1);
          void client.end().catch(ignore);
          if (closed) return;
          if (err) options.onError?.(err);
          const retry = () => {
            if (!closed) connect().then(onReconnect, () => setTimeout(retry, 1_000).unref());
          };
          setTimeout(retry, 1_000).unref();
        };
        client.off('error', ignore);
        client.on('error', reconnect);
        client.on('end', () => reconnect());
        listeners.push(client);
      };
      await connect();
    },
    async close() {
      closed = true;
      await Promise.all(listeners.splice(0).map((c) => c.end().catch(() => undefined)));
      await pool.end();
    },
  };
}
