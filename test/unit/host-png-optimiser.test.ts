/**
 * Lossless PNG optimisation: the example runner's screenshots and a few harder images
 * (transparent pixels with colours, 16-bit, palette) are decoded before and after, and
 * every pixel must be the same; the example runner's screenshots get smaller.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { convertIndexedToRgb, decode, encode, type DecodedPng } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_PNG_BYTES, PngOptimiser } from '../../src/activities/host/png-optimiser.js';
import { RUNNER_PATH } from '../helpers/lab.js';

const optimiser = new PngOptimiser();
afterAll(() => optimiser.close());

/** Every pixel as 16-bit RGBA, whatever the colour type, bit depth or transparency chunk. */
function rgba16(png: DecodedPng): number[] {
  const { width, height, depth } = png;
  const out: number[] = [];
  if (png.palette) {
    const rgb = convertIndexedToRgb(png);
    const ch = rgb.length / (width * height);
    for (let i = 0; i < width * height; i++)
      out.push(
        rgb[i * ch]! * 257,
        rgb[i * ch + 1]! * 257,
        rgb[i * ch + 2]! * 257,
        ch === 4 ? rgb[i * ch + 3]! * 257 : 65535,
      );
    return out;
  }
  const ch = png.channels;
  const max = 2 ** depth - 1;
  const sample = (i: number): number => {
    if (depth >= 8) return png.data[i]!;
    const perRow = width * ch;
    const row = Math.floor(i / perRow);
    const bit = (i % perRow) * depth;
    const byte = png.data[row * Math.ceil((perRow * depth) / 8) + (bit >> 3)]!;
    return (byte >> (8 - depth - (bit & 7))) & max;
  };
  const scale = (v: number) => Math.round((v * 65535) / max);
  for (let p = 0; p < width * height; p++) {
    const s = Array.from({ length: ch }, (_, c) => sample(p * ch + c));
    const colour = ch <= 2 ? [s[0]!, s[0]!, s[0]!] : [s[0]!, s[1]!, s[2]!];
    let alpha = ch === 2 ? s[1]! : ch === 4 ? s[3]! : max;
    const t = png.transparency;
    if (t && (ch === 1 ? s[0] === t[0] : ch === 3 && s[0] === t[0] && s[1] === t[1] && s[2] === t[2])) alpha = 0;
    out.push(...colour.map(scale), scale(alpha));
  }
  return out;
}

function samePixels(before: Buffer, after: Buffer): void {
  const a = decode(before);
  const b = decode(after);
  expect([b.width, b.height]).toEqual([a.width, a.height]);
  expect(rgba16(b)).toEqual(rgba16(a));
}

describe('PNG optimisation', () => {
  it("makes the example runner's screenshots smaller with every pixel unchanged", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-png-'));
    execFileSync(process.execPath, [path.join(RUNNER_PATH, 'os-test')], {
      env: { ...process.env, TESTBAY_RESULTS_DIR: dir, MODULES: 'boot,install,desktop', MODULE_MS: '1' },
    });
    const shots = await fs.readdir(path.join(dir, 'screenshots'));
    expect(shots).toHaveLength(3);
    for (const shot of shots) {
      const file = path.join(dir, 'screenshots', shot);
      const before = await fs.readFile(file);
      const prepared = (await optimiser.prepare(
        shot,
        before.length,
        () => fs.readFile(file),
        path.join(dir, 'optimised', shot),
      ))!;
      const after = await fs.readFile(prepared.file);
      expect(prepared.savedBytes).toBe(before.length - after.length);
      expect(prepared.savedBytes).toBeGreaterThan(before.length / 2);
      samePixels(before, after);
    }
  });

  it('keeps the colour of transparent pixels, 16-bit samples and palettes exactly', async () => {
    const noise = (n: number, max: number) =>
      Array.from({ length: n }, (_, i) => (i * 7919 + ((i * i) % 13)) % (max + 1));
    const images = [
      // RGBA where many pixels are fully transparent but carry colours
      encode({
        width: 40,
        height: 30,
        channels: 4,
        depth: 8,
        data: Uint8Array.from(noise(40 * 30 * 4, 255).map((v, i) => (i % 4 === 3 ? (v < 128 ? 0 : v) : v))),
      }),
      // 16-bit grey with alpha
      encode({ width: 20, height: 20, channels: 2, depth: 16, data: Uint16Array.from(noise(20 * 20 * 2, 65535)) }),
      // a flat RGB image that oxipng will turn into a palette or grey image
      encode({
        width: 64,
        height: 64,
        channels: 3,
        depth: 8,
        data: Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => (Math.floor(i / 3) % 64 < 32 ? 200 : 10)),
      }),
    ];
    for (const image of images) {
      const before = Buffer.from(image);
      samePixels(before, await optimiser.optimise(before));
    }
  });

  it('uploads a file that is not a PNG, not a valid one, or too large to read whole, as it is', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-png-'));
    const read = (text: string) => () => Promise.resolve(Buffer.from(text));
    expect(
      await optimiser.prepare('broken.png', 16, read('not a png at all'), path.join(dir, 'out.png')),
    ).toBeUndefined();
    expect(await optimiser.prepare('notes.txt', 4, read('text'), path.join(dir, 'out.txt'))).toBeUndefined();
    const never = () => Promise.reject(new Error('a PNG above the limit is not read'));
    expect(await optimiser.prepare('huge.png', MAX_PNG_BYTES + 1, never, path.join(dir, 'out.png'))).toBeUndefined();
  });
});
