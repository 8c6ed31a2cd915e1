/**
 * @module What every page gets and gives: the session (who is signed in, where Temporal
 * Web is), a way to navigate, and a dispose() that stops its live subscriptions.
 */
import type { SessionInfo } from '../../routes/session.js';
import { ApiError } from './api.js';
import { h } from './dom.js';

export interface Ctx {
  session: SessionInfo;
  navigate(path: string): void;
  /** shows a message in the header's notice area */
  notify(text: string, kind?: 'ok' | 'error'): void;
}

export interface Page {
  el: HTMLElement;
  dispose(): void;
}

export function link(href: string, ...children: (string | Node)[]): HTMLAnchorElement {
  return h('a', { href }, ...children);
}

export function errorBox(err: unknown): HTMLElement {
  const e = err instanceof ApiError ? err : undefined;
  return h(
    'div',
    { class: 'error-box', role: 'alert' },
    h('b', null, e?.status ? `${e.status}: ` : ''),
    err instanceof Error ? err.message : String(err),
    e && e.issues.length > 0
      ? h(
          'ul',
          null,
          e.issues.map((i) => h('li', null, h('code', null, i.path.join('.') || '(spec)'), ': ', i.message)),
        )
      : null,
  );
}

/** Runs an action from a button: disables it meanwhile, reports the outcome in the header. */
export async function act(
  ctx: Ctx,
  button: HTMLButtonElement,
  what: string,
  fn: () => Promise<unknown>,
): Promise<void> {
  button.disabled = true;
  try {
    await fn();
    ctx.notify(what, 'ok');
  } catch (err) {
    ctx.notify(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
  } finally {
    button.disabled = false;
  }
}

export function temporalWorkflowUrl(session: SessionInfo, workflowId: string): string {
  return `${session.temporalWebUrl}/namespaces/${encodeURIComponent(session.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
