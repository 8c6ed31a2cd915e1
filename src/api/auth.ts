/**
 * @module API tokens and roles. `submit` submits, reads, cancels and restarts; `operate`
 * can do all that and manage hosts; `host` only uploads for jobs it holds a lease on (a
 * host token may be bound to one host id); `control` is the control worker's, for job
 * records. Tokens come from config (TESTBAY_TOKENS or the data dir's tokens.json).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../config.js';

export const ROLES = ['submit', 'operate', 'host', 'control'] as const;
export type Role = (typeof ROLES)[number];

export const tokenEntry = z.strictObject({
  token: z.string().min(16, 'tokens must be at least 16 characters'),
  role: z.enum(ROLES),
  name: z.string().optional(),
  /** a host token bound to one host may only write to jobs leased to that host */
  hostId: z.string().optional(),
});
export type TokenEntry = z.infer<typeof tokenEntry>;
const tokenList = z.array(tokenEntry);

export interface Principal {
  role: Role;
  name: string;
  hostId?: string;
}

/** What each kind of request needs. */
export const PERMISSIONS = {
  read: ['submit', 'operate'],
  submit: ['submit', 'operate'],
  operate: ['operate'],
  upload: ['host'],
  control: ['control'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError(`${source}: not JSON (${(err as Error).message})`);
  }
}

export class TokenRegistry {
  private constructor(private readonly entries: TokenEntry[]) {}

  static fromList(list: unknown, source: string): TokenRegistry {
    const parsed = tokenList.safeParse(list);
    if (!parsed.success) {
      throw new ConfigError(
        `${source}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    return new TokenRegistry(parsed.data);
  }

  static async load(tokensJson: string | undefined, file: string): Promise<TokenRegistry> {
    if (tokensJson !== undefined)
      return TokenRegistry.fromList(parseJson(tokensJson, 'TESTBAY_TOKENS'), 'TESTBAY_TOKENS');
    const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new ConfigError(`no tokens configured: set TESTBAY_TOKENS or create ${file}`);
      throw err;
    });
    return TokenRegistry.fromList(parseJson(text, file), file);
  }

  /** The first token of a role and name (the embedded lab's operator, for its one-time login link). */
  tokenOf(role: Role, name?: string): string | undefined {
    return this.entries.find((e) => e.role === role && (name === undefined || e.name === name))?.token;
  }

  /** The principal a bearer token stands for, compared in constant time. */
  authenticate(token: string): Principal | undefined {
    const given = Buffer.from(token);
    for (const e of this.entries) {
      const known = Buffer.from(e.token);
      if (known.length === given.length && timingSafeEqual(known, given)) {
        const p: Principal = { role: e.role, name: e.name ?? e.role };
        if (e.hostId !== undefined) p.hostId = e.hostId;
        return p;
      }
    }
    return undefined;
  }
}

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}
