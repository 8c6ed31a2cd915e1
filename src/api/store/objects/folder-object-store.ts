/**
 * @module Objects in a folder of the data dir (`<data dir>/objects`), the embedded
 * default. A write goes to a `.part` file beside its target and is renamed into place,
 * so a reader sees all of an object or none; a failed write removes its part. Every
 * path is resolved and checked to stay inside the root, and everything is private:
 * folders 0700, files 0600, whatever the umask.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StoreError } from '../result-store.js';
import { byteCounter, checkKey, type ObjectStore } from './object-store.js';

export class FolderObjectStore implements ObjectStore {
  readonly location: string;

  constructor(private readonly root: string) {
    this.root = path.resolve(root);
    this.location = this.root;
  }

  /** The file of a key, refused unless it lies inside the root. */
  private fileOf(key: string): string {
    const file = path.resolve(this.root, checkKey(key));
    if (!file.startsWith(this.root + path.sep))
      throw new StoreError('bad-name', `object key "${key}" leaves the object folder`);
    return file;
  }

  /** mkdir -p below the root, each new folder 0700. */
  private async makeDirs(dir: string): Promise<void> {
    const missing: string[] = [];
    for (let d = dir; d !== this.root && d.startsWith(this.root); d = path.dirname(d)) {
      if (
        await fs.stat(d).then(
          () => true,
          () => false,
        )
      )
        break;
      missing.unshift(d);
    }
    for (const d of missing) {
      await fs.mkdir(d, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      await fs.chmod(d, 0o700);
    }
  }

  async check(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    await fs.chmod(this.root, 0o700);
    await fs.access(this.root, fs.constants.W_OK);
  }

  async put(key: string, body: Readable): Promise<number> {
    const file = this.fileOf(key);
    await this.makeDirs(path.dirname(file));
    const part = `${file}.${randomUUID()}.part`;
    const counter = byteCounter();
    // Created 0600 (the umask can only take bits away), then made exactly that.
    const out = createWriteStream(part, { mode: 0o600, flags: 'wx' });
    try {
      await pipeline(body, counter, out);
      await fs.chmod(part, 0o600);
      await fs.rename(part, file);
    } catch (err) {
      // A stream stopped before its file was open still creates it: remove it once closed.
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
      await fs.rm(part, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      // The target is a folder, or a folder on its way is a file: another object's place.
      if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'ENOTEMPTY' || code === 'EEXIST')
        throw new StoreError('conflict', `object ${key} clashes with another object (${code})`);
      throw err;
    }
    return counter.bytes;
  }

  async get(key: string, start = 0): Promise<Readable | undefined> {
    const file = this.fileOf(key);
    const handle = await fs.open(file, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.code === 'EISDIR') return undefined;
      throw err;
    });
    if (!handle) return undefined;
    return handle.createReadStream({ start });
  }

  async delete(key: string): Promise<void> {
    const file = this.fileOf(key);
    await fs.rm(file, { force: true });
    // Tidy: the folders the object was the last one in (a job's), up to the root.
    for (let d = path.dirname(file); d !== this.root && d.startsWith(this.root + path.sep); d = path.dirname(d)) {
      if (
        !(await fs.rmdir(d).then(
          () => true,
          () => false,
        ))
      )
        break;
    }
  }
}
