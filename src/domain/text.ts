/**
 * @module Text sizes as the world counts them: UTF-8 bytes (Temporal's limits, the kernel's
 * argument and environment limits), without Node's Buffer so workflow code can use it.
 */
export function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}
