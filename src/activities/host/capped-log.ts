/**
 * @module A job's log file with a size limit (TESTBAY_MAX_LOG_BYTES): what a runner prints
 * goes to the file until the limit, then one marker line, and the rest is counted and
 * dropped (the runner's pipe keeps flowing, so it never blocks). At the end a line says how
 * much was dropped. Writes wait for the file, so a fast runner is held back by the disk,
 * not buffered in the host's memory.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { Writable } from 'node:stream';

export class CappedLog extends Writable {
  private written: number;
  private dropped = 0;

  private constructor(
    private readonly file: WriteStream,
    private readonly maxBytes: number,
    alreadyBytes: number,
  ) {
    super();
    this.written = alreadyBytes;
  }

  /** Appends to `path` (provisioning's notes may be there already); the limit counts them. */
  static async open(path: string, maxBytes: number): Promise<CappedLog> {
    const size = await fs.stat(path).then(
      (s) => s.size,
      () => 0,
    );
    return new CappedLog(createWriteStream(path, { flags: 'a', mode: 0o600 }), maxBytes, size);
  }

  get droppedBytes(): number {
    return this.dropped;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    const room = this.maxBytes - this.written;
    if (room <= 0) {
      this.dropped += chunk.length;
      return done();
    }
    if (chunk.length <= room) {
      this.written += chunk.length;
      this.file.write(chunk, done);
      return;
    }
    this.written = this.maxBytes;
    this.dropped += chunk.length - room;
    this.file.write(chunk.subarray(0, room));
    this.file.write(
      `\ntestbay: the log reached TESTBAY_MAX_LOG_BYTES (${this.maxBytes} bytes); the rest of the runner's output is dropped\n`,
      done,
    );
  }

  /** Writes a last line of the host's own (never cut) and closes the file. */
  async close(line?: string): Promise<void> {
    await new Promise<void>((resolve) => this.end(resolve));
    const tail = [this.dropped > 0 ? `testbay: ${this.dropped} bytes of output were dropped\n` : '', line ?? ''].join(
      '',
    );
    await new Promise<void>((resolve) => (tail ? this.file.end(tail, resolve) : this.file.end(resolve)));
  }
}
