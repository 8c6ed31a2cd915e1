/**
 * Where a followed log's chunks are cut: never inside a UTF-8 character that later bytes may
 * complete, so text decoded part by part is the text of the whole, and each part's end is a
 * byte offset a client can start again from.
 */
import { describe, expect, it } from 'vitest';
import { completeUtf8Length } from '../../src/api/utf8-boundary.js';

const decode = (b: Uint8Array) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(b);

/** Decodes `bytes` cut at `cuts` the way the log stream does: holding back an unfinished character. */
function partByPart(bytes: Buffer, cuts: number[]): string[] {
  const parts: string[] = [];
  let held = Buffer.alloc(0);
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    const chunk = Buffer.concat([held, bytes.subarray(from, to)]);
    const n = completeUtf8Length(chunk);
    parts.push(decode(chunk.subarray(0, n)));
    held = chunk.subarray(n);
    from = to;
  }
  parts.push(decode(held));
  return parts;
}

describe('completeUtf8Length', () => {
  it('holds back a character split at the end, and nothing else', () => {
    const euro = Buffer.from('€'); // E2 82 AC
    expect(completeUtf8Length(Buffer.from('abc'))).toBe(3);
    expect(completeUtf8Length(Buffer.concat([Buffer.from('ab'), euro.subarray(0, 2)]))).toBe(2);
    expect(completeUtf8Length(Buffer.concat([Buffer.from('ab'), euro]))).toBe(5);
    expect(completeUtf8Length(Buffer.from('😀').subarray(0, 3))).toBe(0);
    // Bytes that are never UTF-8 are not held: 0xFF, a lone continuation byte, an overlong lead.
    expect(completeUtf8Length(Buffer.from([0x61, 0xff]))).toBe(2);
    expect(completeUtf8Length(Buffer.from([0x61, 0x80]))).toBe(2);
    expect(completeUtf8Length(Buffer.from([0x61, 0xc0]))).toBe(2);
    expect(completeUtf8Length(Buffer.alloc(0))).toBe(0);
  });

  it('decodes any bytes cut anywhere to the text of the whole', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const alphabet = [
      Buffer.from('a'),
      Buffer.from('é'),
      Buffer.from('€'),
      Buffer.from('😀'),
      Buffer.from([0xff]),
      Buffer.from([0x80]),
      Buffer.from([0xe2, 0x82]),
      Buffer.from([0xf0, 0x9f]),
      Buffer.from('\uFEFF'),
    ];
    for (let run = 0; run < 500; run++) {
      const bytes = Buffer.concat(
        Array.from({ length: 1 + Math.floor(random() * 20) }, () => alphabet[Math.floor(random() * alphabet.length)]!),
      );
      const cuts = [
        ...new Set(Array.from({ length: Math.floor(random() * 5) }, () => Math.floor(random() * bytes.length))),
      ].sort((x, y) => x - y);
      expect(partByPart(bytes, cuts).join(''), `${bytes.toString('hex')} cut at ${cuts.join(',')}`).toBe(decode(bytes));
    }
  });
});
