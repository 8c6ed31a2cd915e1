/**
 * @module Sealed values: what must not be readable in Temporal (Web, gRPC, histories) or
 * in the result store travels sealed — a job's secrets (`secrets:` in the spec) and the
 * upload token of each job record. AES-256-GCM with the lab's payload key
 * (TESTBAY_PAYLOAD_KEY, or the key file: `<data dir>/payload.key` by default), bound to its
 * submission (the associated data), so a sealed value copied into another submission does
 * not open. Only the API (which seals) and the hosts (which open, to upload and to give a
 * runner its secrets) hold the key; the control worker and Temporal never see a secret.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config.js';
import { isSealed, SEALED_PREFIX } from './domain/sealed.js';

export { isSealed, SEALED_PREFIX } from './domain/sealed.js';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SealingError extends Error {}
/** The lab's payload key is missing or malformed: bad configuration (the CLI exits 2). */
export class PayloadKeyError extends ConfigError {}

export class PayloadKey {
  private constructor(private readonly key: Buffer) {}

  /** A key from its text: 32 bytes as base64 or base64url (44/43 characters) or hex (64). */
  static parse(text: string, source: string): PayloadKey {
    const t = text.trim();
    const key = /^[0-9a-f]{64}$/i.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
    if (key.length !== KEY_BYTES)
      throw new PayloadKeyError(
        `${source}: a payload key is ${KEY_BYTES} random bytes as base64 or hex (\`openssl rand -base64 32\`), not ${key.length} bytes`,
      );
    return new PayloadKey(key);
  }

  static generate(): PayloadKey {
    return new PayloadKey(randomBytes(KEY_BYTES));
  }

  toText(): string {
    return this.key.toString('base64');
  }

  /** Seals `plain` for the submission `context`. */
  seal(plain: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** Opens a value sealed for `context`; throws when it was sealed for another, or with another key. */
  open(sealed: string, context: string): string {
    if (!isSealed(sealed)) throw new SealingError('not a sealed value');
    const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SealingError('a sealed value too short to open');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SealingError(
        `a sealed value does not open for ${context}: sealed with another payload key, or for another submission`,
      );
    }
  }

  /** Seals every value of a record (a job's secrets). */
  sealAll(values: Record<string, string>, context: string): Record<string, string> {
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, this.seal(v, context)]));
  }

  openAll(values: Record<string, string>, context: string): Record<string, string> {
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, this.open(v, context)]));
  }
}

export const payloadKeyFile = (dataDir: string) => path.join(dataDir, 'payload.key');

/**
 * The lab's payload key: TESTBAY_PAYLOAD_KEY (then removed from this process's
 * environment, so no child inherits it), else the key file. With `create`, a missing file
 * is made (0600): the embedded lab's API and hosts share the data dir.
 */
export function loadPayloadKey(options: { env?: NodeJS.ProcessEnv; file: string; create?: boolean }): PayloadKey {
  const env = options.env ?? process.env;
  const given = env.TESTBAY_PAYLOAD_KEY;
  if (given !== undefined) {
    delete env.TESTBAY_PAYLOAD_KEY;
    return PayloadKey.parse(given, 'TESTBAY_PAYLOAD_KEY');
  }
  try {
    return PayloadKey.parse(fs.readFileSync(options.file, 'utf8'), options.file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!options.create)
      throw new PayloadKeyError(
        `no payload key: set TESTBAY_PAYLOAD_KEY or TESTBAY_PAYLOAD_KEY_FILE, or copy the API's key file to ${options.file}`,
      );
  }
  const key = PayloadKey.generate();
  fs.mkdirSync(path.dirname(options.file), { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(options.file, `${key.toText()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process of the lab made it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      return PayloadKey.parse(fs.readFileSync(options.file, 'utf8'), options.file);
    throw err;
  }
  return key;
}
