/**
 * @module The blobs of the result store — sealed logs, artifacts, screenshots — behind
 * one small interface with two implementations: a folder in the data dir (the embedded
 * default) and an S3-compatible bucket. Keys are the store's own (`jobs/<job id>/…`),
 * never a name a runner chose. Fencing, sealing and order live in the database: an
 * object store only keeps bytes.
 */
import { Transform, type Readable } from 'node:stream';
import { StoreError } from '../result-store.js';

export interface ObjectStore {
  /** where it is, for messages (a folder, or `s3://bucket/prefix at <endpoint>`) */
  readonly location: string;
  /** Throws, saying why, when it cannot be reached. */
  check(): Promise<void>;
  /** Writes `body` at `key` whole or not at all (a failed write leaves nothing behind); resolves to its size. */
  put(key: string, body: Readable): Promise<number>;
  /** The object from byte `start`, or undefined when there is none. */
  get(key: string, start?: number): Promise<Readable | undefined>;
  /** Deletes `key`; one that is not there is fine. */
  delete(key: string): Promise<void>;
  close?(): void;
}

/** Store keys: `/`-separated segments of letters, digits, `.`, `_`, `-`, none of them `.` or `..`. */
const KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

export function checkKey(key: string): string {
  if (key.length > 512 || !KEY.test(key)) throw new StoreError('bad-name', `object key "${key}" is not a store key`);
  return key;
}

/** Passes at most `maxBytes` through; more fails the stream with a 'too-large' StoreError. */
export function byteLimit(maxBytes: number, what: string): Transform {
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) done(new StoreError('too-large', `${what} is larger than ${maxBytes} bytes`));
      else done(null, chunk);
    },
  });
}

/** A pass-through that counts what went through it. */
export function byteCounter(): Transform & { bytes: number } {
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      counter.bytes += chunk.length;
      done(null, chunk);
    },
  }) as Transform & { bytes: number };
  counter.bytes = 0;
  return counter;
}
