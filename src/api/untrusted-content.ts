/**
 * @module How the API serves what runners wrote (artifacts, logs) and its own pages. A
 * runner is not trusted: an artifact named `x.html` or `x.svg` served inline from the
 * API's origin would run its script there and could read the operator's token from the
 * dashboard's localStorage. So only a short list of types that cannot script (raster
 * images, plain text) is served inline, under a type Testbay chooses rather than one
 * guessed or sniffed; everything else is a download. Every such response also says
 * `nosniff` and carries a sandboxing Content-Security-Policy, so even a browser that
 * renders it gives it an opaque origin with no script.
 */
import type { Response } from 'express';

/** Extensions served inline, and the type they are served as. */
const INLINE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  txt: 'text/plain; charset=utf-8',
  log: 'text/plain; charset=utf-8',
};

/** The type an artifact is served inline as, or undefined when it is served as a download. */
export function inlineTypeOf(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  if (dot === -1 || dot < name.lastIndexOf('/')) return undefined;
  return INLINE_TYPES[name.slice(dot + 1).toLowerCase()];
}

/** Headers for anything a runner wrote: never sniffed, never scripted, never framed. */
export function untrusted(res: Response): void {
  res.set({
    'x-content-type-options': 'nosniff',
    'content-security-policy': "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'",
    'cross-origin-resource-policy': 'same-origin',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  });
}

/** `attachment; filename=…` for a path, ASCII-safe with the UTF-8 name beside it (RFC 6266). */
export function attachment(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1) || 'artifact';
  const ascii = base.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(base)}`;
}

/** Sets the type and disposition of an artifact response, with the untrusted-content headers. */
export function artifactHeaders(res: Response, name: string): void {
  untrusted(res);
  const inline = inlineTypeOf(name);
  if (inline) {
    res.set({ 'content-type': inline, 'content-disposition': 'inline' });
  } else {
    res.set({ 'content-type': 'application/octet-stream', 'content-disposition': attachment(name) });
  }
}

/**
 * The dashboard's own pages: scripts and styles only from this origin, images also from
 * blob URLs (screenshots are fetched with the token in a header, then shown), no frames,
 * no plugins, no referrer (the first URL may carry `?token=`).
 */
export const DASHBOARD_SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** The API docs page: its own inline style, nothing else. */
export const DOCS_SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};
