/**
 * @module What the dashboard needs besides the resources themselves: who the token
 * belongs to (so it offers operator buttons only to operators), where Temporal Web is,
 * and a submission's plan (the dependency graph it draws).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { Router } from 'express';
import { PERMISSIONS } from '../auth.js';
import { HttpError, parseOr400 } from '../http-errors.js';
import { authorize, principalOf, sameSecret } from '../middleware.js';
import { maskSecrets } from '../secrets.js';
import type { RouteDeps } from './deps.js';
import { submissionIdParam } from './api-schemas.js';

export interface SessionInfo {
  name: string;
  role: string;
  canOperate: boolean;
  temporalWebUrl: string;
  namespace: string;
}

export function sessionRoutes(deps: RouteDeps): Router {
  const r = Router();
  r.get('/me', authorize(deps.tokens, 'read'), (_req, res) => {
    const p = principalOf(res);
    const info: SessionInfo = {
      name: p.name,
      role: p.role,
      canOperate: (PERMISSIONS.operate as readonly string[]).includes(p.role),
      temporalWebUrl: deps.temporalWebUrl,
      namespace: deps.namespace,
    };
    res.json(info);
  });

  // The one-time link `testbay dev` prints: the code opens the dashboard as the lab's
  // operator once, within 15 minutes; the token itself never shows in a URL a server sees.
  r.get('/login', async (req, res) => {
    const code = typeof req.query.code === 'string' ? req.query.code : '';
    const token = deps.loginCodeFile ? await takeLoginCode(deps.loginCodeFile, code) : undefined;
    const operator = token === undefined ? undefined : deps.tokens.tokenOf('operate', token);
    if (!operator)
      throw new HttpError(
        401,
        'this login link is not valid (any more): it works once, within 15 minutes; paste a token on the dashboard instead',
      );
    res.set('cache-control', 'no-store').redirect(303, `/#token=${encodeURIComponent(operator)}`);
  });

  r.get('/submissions/:id/plan', authorize(deps.tokens, 'read'), async (req, res) => {
    const id = parseOr400(submissionIdParam, req.params.id, 'submission id');
    const record = await deps.store.getSubmission(id);
    if (!record) throw new HttpError(404, `no submission ${id}`);
    res.json(maskSecrets(record.plan));
  });
  return r;
}

interface LoginCode {
  code: string;
  /** the operator token's name it opens the dashboard as */
  name: string;
  expiresAt: number;
}

/** Writes a fresh one-time login code (0600) and returns it. */
export async function newLoginCode(file: string, name: string, ttlMs = 15 * 60_000): Promise<string> {
  const code = randomBytes(18).toString('base64url');
  const entry: LoginCode = { code, name, expiresAt: Date.now() + ttlMs };
  await fs.writeFile(file, JSON.stringify(entry), { mode: 0o600 });
  await fs.chmod(file, 0o600);
  return code;
}

/** The token name a valid code opens as; the code is spent (the file removed) either way once it matched. */
async function takeLoginCode(file: string, code: string): Promise<string | undefined> {
  const entry = await fs.readFile(file, 'utf8').then(
    (t) => JSON.parse(t) as LoginCode,
    () => undefined,
  );
  if (!entry || code.length === 0 || !sameSecret(code, entry.code)) return undefined;
  await fs.rm(file, { force: true });
  return Date.now() <= entry.expiresAt ? entry.name : undefined;
}
