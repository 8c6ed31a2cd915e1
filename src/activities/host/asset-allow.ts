/**
 * @module Where a host takes assets from (host config `assets.allow`, TESTBAY_ASSETS_ALLOW):
 * URL patterns of a scheme, a host and a path prefix. `https://*` is any https host,
 * `https://*.example.com` its subdomains, `http://mirror.lab:8080/images/` one folder of one
 * server (a pattern without a port takes any port), `file:///srv/assets/` one local folder.
 * Without a list a host takes http and https from anywhere and no `file://` URL at all: a
 * job must not be able to read the host's own files.
 */

export const DEFAULT_ASSET_ALLOW: readonly string[] = ['https://*', 'http://*'];

interface Pattern {
  protocol: string;
  /** '*' (any), '*.example.com' (subdomains) or a host name */
  host: string;
  port: string;
  path: string;
}

export class AssetAllowError extends Error {}

function parsePattern(text: string): Pattern {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AssetAllowError(
      `assets.allow: ${JSON.stringify(text)} is not a URL pattern (e.g. https://*, file:///srv/assets/)`,
    );
  }
  if (!['http:', 'https:', 'file:'].includes(url.protocol))
    throw new AssetAllowError(`assets.allow: ${text}: only http, https and file URLs can be assets`);
  return {
    protocol: url.protocol,
    host: url.hostname.toLowerCase(),
    port: url.port,
    path: decodeURIComponent(url.pathname),
  };
}

/** `prefix` covers `path`: the same path, or one below it (a folder boundary, not a string prefix). */
function underPath(prefix: string, path: string): boolean {
  if (prefix === '/' || prefix === '') return true;
  if (prefix.endsWith('/')) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return host === pattern;
}

export class AssetAllowList {
  private readonly patterns: Pattern[];

  constructor(readonly sources: readonly string[] = DEFAULT_ASSET_ALLOW) {
    this.patterns = sources.map(parsePattern);
  }

  /** Whether this URL may be fetched. */
  allows(url: URL): boolean {
    const host = url.hostname.toLowerCase();
    // The URL parser has already resolved `..` and percent-decoded nothing: compare decoded paths.
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return false;
    }
    return this.patterns.some(
      (p) =>
        p.protocol === url.protocol &&
        (p.protocol === 'file:' || hostMatches(p.host, host)) &&
        (p.port === '' || p.port === url.port) &&
        underPath(p.path, path),
    );
  }

  /** Throws, saying what is allowed, when the URL may not be fetched. */
  check(url: URL, what = 'asset'): void {
    if (!this.allows(url))
      throw new AssetAllowError(
        `${what} ${url.protocol === 'file:' ? url.href : url.origin + url.pathname} is not allowed on this host (assets.allow: ${this.sources.join(', ') || 'nothing'})`,
      );
  }
}
