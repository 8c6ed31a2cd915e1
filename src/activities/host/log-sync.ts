/**
 * @module Log upload: the runner's output goes to a local file; this sends what the API
 * does not have yet, from the offset it has, on a steady tick while the job runs and once
 * more at the end. A failed send is simply retried on the next tick (nothing is lost,
 * nothing is stored twice: the API appends at an offset).
 */
import fs from 'node:fs/promises';
import { ApiError, type TestbayClient } from '../../api/client.js';

const MAX_CHUNK = 4 * 1024 * 1024;

export class LeaseRevokedError extends Error {}

/** The API refused the job's lease (HTTP 409): this attempt is fenced, it may not write results any more. */
export function isLeaseRevoked(err: unknown): err is Error {
  return err instanceof LeaseRevokedError || (err instanceof ApiError && err.status === 409);
}

export class LogSync {
  private sent = 0;
  private known = false;

  constructor(
    private readonly api: TestbayClient,
    private readonly jobId: string,
    private readonly lease: string,
    private readonly file: string,
  ) {}

  /** Sends everything written so far. Throws LeaseRevokedError when the API refuses the lease. */
  async sync(): Promise<number> {
    try {
      if (!this.known) {
        this.sent = (await this.api.appendLog(this.jobId, this.lease, 0, Buffer.alloc(0))).size;
        this.known = true;
      }
      // Nothing new (most ticks): no file opened, no buffer allocated.
      const size = await fs.stat(this.file).then(
        (s) => s.size,
        () => 0,
      );
      if (size <= this.sent) return this.sent;
      const handle = await fs.open(this.file, 'r').catch(() => undefined);
      if (!handle) return this.sent;
      try {
        for (;;) {
          // The file grows while we send: chunks as large as what is there now (a large
          // backlog goes up in 4 MiB requests, not in 64 kB ones).
          const now = (await handle.stat()).size;
          if (now <= this.sent) break;
          const want = Math.min(MAX_CHUNK, now - this.sent);
          const buffer = Buffer.allocUnsafe(want);
          const { bytesRead } = await handle.read(buffer, 0, want, this.sent);
          if (bytesRead === 0) break;
          this.sent = (await this.api.appendLog(this.jobId, this.lease, this.sent, buffer.subarray(0, bytesRead))).size;
        }
      } finally {
        await handle.close();
      }
      return this.sent;
    } catch (err) {
      if (isLeaseRevoked(err)) throw new LeaseRevokedError(err.message);
      // Unknown state after an error: ask the API for its size next time.
      this.known = false;
      throw err;
    }
  }
}
