/**
 * @module The dashboard's access to the HTTP API: the token (from `?token=`, else
 * localStorage), JSON calls that throw ApiError with the server's message and issues,
 * and URLs for what the browser loads itself (images, EventSource) with the token in the
 * query, since those cannot send an Authorization header.
 */

const KEY = 'testbay.token';

export interface Issue {
  path: (string | number)[];
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues: Issue[] = [],
  ) {
    super(message);
  }
}

/** Moves `?token=` from the address bar into localStorage, so it is not left in history. */
export function takeTokenFromUrl(): void {
  const url = new URL(window.location.href);
  const given = url.searchParams.get('token');
  if (!given) return;
  localStorage.setItem(KEY, given);
  url.searchParams.delete('token');
  history.replaceState(null, '', url.pathname + url.search + url.hash);
}

export const token = (): string | null => localStorage.getItem(KEY);
export const setToken = (value: string): void => localStorage.setItem(KEY, value.trim());
export const clearToken = (): void => localStorage.removeItem(KEY);

export function withToken(url: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token() ?? '')}`;
}

export async function api<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token() ?? ''}` };
  let payload: string | undefined;
  if (body !== undefined) {
    headers['content-type'] = contentType;
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  } catch (err) {
    throw new ApiError(0, `cannot reach the Testbay API: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!res.ok) {
    const text = await res.text();
    try {
      const parsed = JSON.parse(text) as { error?: string; issues?: Issue[] };
      throw new ApiError(res.status, parsed.error ?? res.statusText, parsed.issues ?? []);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(res.status, text || res.statusText);
    }
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}
