/**
 * @module Keeps a job's secrets out of its log: what the runner prints goes through here
 * into the log file, every occurrence of a secret's value replaced by `***` (values of at
 * least 4 bytes; shorter ones would mask ordinary text). A value split across two writes
 * is still caught: the last bytes that could start one are held until the next write.
 */
import { Writable } from 'node:stream';

export const MASK = Buffer.from('***');
const MIN_SECRET_BYTES = 4;

/** Replaces every occurrence of each needle in `data`; returns the result. */
function maskAll(data: Buffer, needles: readonly Buffer[]): Buffer {
  let out = data;
  for (const n of needles) {
    let at = out.indexOf(n);
    if (at === -1) continue;
    const parts: Buffer[] = [];
    let from = 0;
    while (at !== -1) {
      parts.push(out.subarray(from, at), MASK);
      from = at + n.length;
      at = out.indexOf(n, from);
    }
    parts.push(out.subarray(from));
    out = Buffer.concat(parts);
  }
  return out;
}

/**
 * A writable to give the runner as its output: masks and writes into `out` (which it never
 * ends). `flush()` writes what is held back; call it once the runner's output has ended.
 */
export function secretMask(
  out: NodeJS.WritableStream,
  secrets: Record<string, string> | undefined,
): { stream: NodeJS.WritableStream; flush(): Promise<void> } {
  const needles = [...new Set(Object.values(secrets ?? {}))]
    .map((v) => Buffer.from(v))
    .filter((b) => b.length >= MIN_SECRET_BYTES)
    .sort((a, b) => b.length - a.length);
  if (needles.length === 0) return { stream: out, flush: () => Promise.resolve() };
  const holdBytes = Math.max(...needles.map((n) => n.length)) - 1;
  let held = Buffer.alloc(0);
  const emit = (chunk: Buffer) => (chunk.length > 0 ? out.write(chunk) : true);
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      const masked = maskAll(Buffer.concat([held, chunk]), needles);
      // Whatever could be the start of a secret waits for the next bytes.
      const keep = Math.min(holdBytes, masked.length);
      held = Buffer.from(masked.subarray(masked.length - keep));
      if (emit(masked.subarray(0, masked.length - keep))) done();
      else out.once('drain', () => done());
    },
    final(done) {
      const rest = held;
      held = Buffer.alloc(0);
      if (emit(rest)) done();
      else out.once('drain', () => done());
    },
  });
  return {
    stream,
    // After every write queued before it: the held bytes go last.
    flush: () => new Promise<void>((resolve) => stream.end(() => resolve())),
  };
}
