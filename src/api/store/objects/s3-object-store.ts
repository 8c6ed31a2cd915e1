/**
 * @module Objects in an S3-compatible bucket (`TESTBAY_OBJECT_STORE=s3://bucket/prefix`,
 * `TESTBAY_S3_ENDPOINT` for a store that is not AWS). Path-style addressing, and
 * checksums only where the protocol requires them: the SDK's default checksums since
 * 3.729 break stores that are not AWS. Writes of unknown length stream as multipart
 * uploads (parts of 8 MiB); a failed one is aborted, so no part is left behind.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { byteCounter, checkKey, type ObjectStore } from './object-store.js';

export interface S3Options {
  bucket: string;
  /** prepended to every key (no leading or trailing slash) */
  prefix: string;
  endpoint?: string;
  region: string;
  /** else the SDK's default chain (environment, profile, instance role) */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  private readonly client: S3Client;

  constructor(private readonly options: S3Options) {
    // The pinned SDK runs on Node 20; its warning is about versions after it.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.location = `s3://${options.bucket}/${options.prefix}${options.endpoint ? ` at ${options.endpoint}` : ''}`;
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
    });
  }

  private keyOf(key: string): string {
    checkKey(key);
    return this.options.prefix ? `${this.options.prefix}/${key}` : key;
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
  }

  async put(key: string, body: Readable): Promise<number> {
    const counter = byteCounter();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.options.bucket, Key: this.keyOf(key), Body: counter },
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    // A failed upload stops the feeding, and the body's own error (too large, the client
    // went away) aborts the upload: neither waits on the other.
    const sending = upload.done().catch((err: unknown) => {
      counter.destroy(err as Error);
      throw err;
    });
    const feeding = pipeline(body, counter).catch(async (err: unknown) => {
      await upload.abort().catch(() => undefined);
      throw err;
    });
    const [fed, sent] = await Promise.allSettled([feeding, sending]);
    if (fed.status === 'rejected') throw fed.reason;
    if (sent.status === 'rejected') throw sent.reason;
    return counter.bytes;
  }

  async get(key: string, start = 0): Promise<Readable | undefined> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.options.bucket,
          Key: this.keyOf(key),
          ...(start > 0 ? { Range: `bytes=${start}-` } : {}),
        }),
      );
      return out.Body instanceof Readable ? out.Body : Readable.from([]);
    } catch (err) {
      if (err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404))
        return undefined;
      // Asked from its end on: nothing more to read.
      if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 416) return Readable.from([]);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(key) }));
  }

  close(): void {
    this.client.destroy();
  }
}
