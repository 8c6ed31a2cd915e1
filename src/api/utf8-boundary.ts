/**
 * @module Where a chunk of a log can be cut without splitting a UTF-8 character: a followed
 * log is sent as text, each part with the byte offset it ends at, so a client that loses the
 * stream starts again at a byte (its text alone would not say which: bytes that are not
 * UTF-8 arrive as U+FFFD, three bytes of UTF-8 for one of the log).
 */

/**
 * The length of the longest prefix of `bytes` that ends on a character boundary: all of
 * it but a trailing lead byte with fewer continuation bytes than it needs (later bytes
 * may complete it). Bytes that can never be UTF-8 count as complete: they decode to U+FFFD
 * wherever the cut falls, so text decoded part by part is the text of the whole.
 */
export function completeUtf8Length(bytes: Uint8Array): number {
  for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 4; i--) {
    const b = bytes[i]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: its lead is further back
    const need = b >= 0xf5 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 ? 2 : 1;
    return bytes.length - i < need ? i : bytes.length;
  }
  return bytes.length;
}
