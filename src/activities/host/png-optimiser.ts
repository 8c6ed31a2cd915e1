/**
 * @module Lossless PNG optimisation before upload: oxipng (WebAssembly, from the npm
 * package @jsquash/oxipng) in a worker thread, so a large screenshot never blocks the
 * host's event loop. The optimised file is uploaded only when it is smaller.
 */
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);

/** Larger PNGs are uploaded as they are: optimising reads the whole file into memory. */
export const MAX_PNG_BYTES = 32 * 1024 ** 2;

/**
 * The worker's code, plain JavaScript so it runs the same under tsx, vitest and plain
 * Node (a worker does not inherit the TypeScript loader).
 */
const WORKER_SOURCE = `
const { readFileSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const ready = import(workerData.module).then(async ({ default: optimise, init }) => {
  await init(readFileSync(workerData.wasm));
  return optimise;
});
parentPort.on('message', async ({ id, data, level }) => {
  try {
    const optimise = await ready;
    // optimiseAlpha false: even fully transparent pixels keep their colour (lossless).
    const out = await optimise(data, { level, interlace: false, optimiseAlpha: false });
    parentPort.postMessage({ id, data: out }, [out]);
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});
`;

interface Pending {
  resolve: (data: Buffer) => void;
  reject: (err: Error) => void;
}

export class PngOptimiser {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** level 1–6: oxipng's effort; 2 is its default and a good trade-off. */
  constructor(private readonly level = 2) {}

  /** The same image, losslessly re-encoded (may not be smaller). */
  optimise(png: Buffer): Promise<Buffer> {
    const worker = this.start();
    const id = this.nextId++;
    const data = png.buffer.slice(png.byteOffset, png.byteOffset + png.byteLength);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, data, level: this.level }, [data as ArrayBuffer]);
    });
  }

  /**
   * For upload: a `.png` file optimised into `outFile` when that saves bytes; undefined
   * (upload it as it is) for other files, PNGs above MAX_PNG_BYTES (read whole, they would
   * cost the host their size in memory) and bad PNGs. Never throws for a bad PNG.
   */
  async prepare(
    name: string,
    sizeBytes: number,
    read: () => Promise<Buffer>,
    outFile: string,
  ): Promise<{ file: string; savedBytes: number } | undefined> {
    if (!name.toLowerCase().endsWith('.png') || sizeBytes > MAX_PNG_BYTES) return undefined;
    const original = await read();
    let optimised: Buffer;
    try {
      optimised = await this.optimise(original);
    } catch {
      return undefined;
    }
    if (optimised.length >= original.length) return undefined;
    await fs.mkdir(path.dirname(outFile), { recursive: true });
    await fs.writeFile(outFile, optimised);
    return { file: outFile, savedBytes: original.length - optimised.length };
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        module: pathToFileURL(require.resolve('@jsquash/oxipng/optimise.js')).href,
        wasm: require.resolve('@jsquash/oxipng/codec/pkg/squoosh_oxipng_bg.wasm'),
      },
    });
    // An idle optimiser must not keep the host process alive.
    worker.unref();
    worker.on('message', (msg: { id: number; data?: ArrayBuffer; error?: string }) => {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.data) p?.resolve(Buffer.from(msg.data));
      else p?.reject(new Error(`png optimisation failed: ${msg.error ?? 'unknown error'}`));
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`png optimiser stopped (exit ${code})`)));
    this.worker = worker;
    return worker;
  }
}
