/**
 * @module The dashboard's access to the HTTP API: the token (from `?token=`, else
 * localStorage), JSON calls that throw ApiError with the server's message and issues,
 * files (screenshots, artifacts, the raw log) fetched with the token in the header and
 * handed to the page as blob URLs, and the URLs of the event streams: EventSource cannot
 * send a header, so those alone carry the token as `?token=` (the API refuses it
 * anywhere else).
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
  // `#token=` (where a one-time login link sends the browser: a fragment never reaches a server) or `?token=`.
  const fromHash = new URLSearchParams(url.hash.slice(1)).get('token');
  const given = fromHash ?? url.searchParams.get('token');
  if (!given) return;
  localStorage.setItem(KEY, given);
  url.searchParams.delete('token');
  history.replaceState(null, '', url.pathname + url.search + (fromHash ? '' : url.hash));
}

export const token = (): string | null => localStorage.getItem(KEY);
export const setToken = (value: string): void => localStorage.setItem(KEY, value.trim());
export const clearToken = (): void => localStorage.removeItem(KEY);

/** The URL of an event stream (`/events`, a log with `follow=1`), with the token in the query. */
export function eventStreamUrl(url: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token() ?? '')}`;
}

/**
 * Fetches a file of the API with the token in the header and returns a blob URL for it,
 * typed as `type` (the caller's choice, never the server's or a sniffed one: a blob URL
 * shares the dashboard's origin). Revoke it with URL.revokeObjectURL when done.
 */
export async function blobUrl(path: string, type: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { headers: { authorization: `Bearer ${token() ?? ''}` } });
  } catch (err) {
    throw new ApiError(0, `cannot reach the Testbay API: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!res.ok) throw new ApiError(res.status, (await res.text()) || res.statusText);
  return URL.createObjectURL(new Blob([await res.arrayBuffer()], { type }));
}

export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<T> {
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

/** A part of a job's log as text (GET /jobs/:id/log?…), with where it begins. */
export async function logPart(jobId: string, query: string): Promise<{ text: string; start: number; end: number }> {
  let res: Response;
  try {
    res = await fetch(`/api/v1/jobs/${jobId}/log?${query}`, { headers: { authorization: `Bearer ${token() ?? ''}` } });
  } catch (err) {
    throw new ApiError(0, `cannot reach the Testbay API: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!res.ok) throw new ApiError(res.status, (await res.text()) || res.statusText);
  return {
    text: await res.text(),
    start: Number(res.headers.get('x-log-start') ?? 0),
    end: Number(res.headers.get('x-log-end') ?? 0),
  };
}
