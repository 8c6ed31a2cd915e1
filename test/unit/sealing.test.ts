/**
 * Sealed values and the log's secret mask: what keeps secrets and upload tokens out of
 * Temporal, the result store and the job's log.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { secretMask } from '../../src/activities/host/secret-mask.js';
import { PayloadKey, SEALED_PREFIX, SealingError } from '../../src/sealing.js';

describe('sealed values', () => {
  const key = PayloadKey.generate();

  it('open for their submission with their key, and only so', () => {
    const sealed = key.seal('hunter2', 'sub1');
    expect(sealed.startsWith(SEALED_PREFIX)).toBe(true);
    expect(sealed).not.toContain('hunter2');
    expect(key.seal('hunter2', 'sub1')).not.toBe(sealed); // a fresh IV each time
    expect(key.open(sealed, 'sub1')).toBe('hunter2');
    expect(() => key.open(sealed, 'sub2')).toThrow(SealingError);
    expect(() => PayloadKey.generate().open(sealed, 'sub1')).toThrow(/another payload key, or for another submission/);
    expect(() => key.open(`${sealed.slice(0, -2)}AA`, 'sub1')).toThrow(SealingError);
    expect(() => key.open('plain', 'sub1')).toThrow(/not a sealed value/);
  });

  it('parse a key of 32 bytes in base64 or hex, and say what is wrong with another', () => {
    const text = key.toText();
    expect(PayloadKey.parse(text, 'x').open(key.seal('v', 'c'), 'c')).toBe('v');
    expect(() => PayloadKey.parse(Buffer.alloc(32, 1).toString('hex'), 'x')).not.toThrow();
    expect(() => PayloadKey.parse('short', 'TESTBAY_PAYLOAD_KEY')).toThrow(
      /^TESTBAY_PAYLOAD_KEY: a payload key is 32 random bytes/,
    );
  });
});

describe("a job's log", () => {
  const run = async (secrets: Record<string, string>, writes: string[]) => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const mask = secretMask(out, secrets);
    for (const w of writes) mask.stream.write(w);
    await mask.flush();
    return text;
  };

  it('shows *** for every secret, also one split across writes', async () => {
    expect(
      await run({ A: 'hunter2', B: 'p@ssw0rd-long' }, [
        'login with hunter2 and p@ss',
        'w0rd-long, again hunt',
        'er2.\n',
      ]),
    ).toBe('login with *** and ***, again ***.\n');
  });

  it('leaves text alone when there is nothing to mask, or the secret is too short to mask safely', async () => {
    expect(await run({}, ['plain ', 'text'])).toBe('plain text');
    expect(await run({ PIN: '42' }, ['the answer is 42'])).toBe('the answer is 42');
  });
});
