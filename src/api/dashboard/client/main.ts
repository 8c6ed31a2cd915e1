/**
 * @module The dashboard's entry: takes the token (from `?token=` or the sign-in form),
 * checks it, draws the header, opens the live event stream and routes on the path
 * (pushState navigation: no page reloads).
 */
import { JOB_ID_PATTERN } from '../../../domain/ids.js';
import type { SessionInfo } from '../../routes/session.js';
import { api, ApiError, clearToken, setToken, takeTokenFromUrl, token } from './api.js';
import { fill, h } from './dom.js';
import { connectLive } from './live.js';
import type { Ctx, Page } from './page.js';
import { hostsPage } from './pages/hosts.js';
import { jobPage } from './pages/job.js';
import { newSubmissionPage } from './pages/new-submission.js';
import { submissionPage } from './pages/submission.js';
import { submissionsPage } from './pages/submissions.js';
import { reviewPage } from './review.js';
import { webhooksPage } from './pages/webhooks.js';

const root = document.getElementById('app')!;

function signIn(message?: string): void {
  const input = h('input', {
    type: 'password',
    name: 'token',
    placeholder: 'API token',
    autocomplete: 'off',
    size: 44,
    required: true,
  });
  const form = h(
    'form',
    { class: 'sign-in' },
    h('h1', null, 'Testbay'),
    message ? h('p', { class: 'error-box' }, message) : null,
    h(
      'p',
      null,
      'Paste an API token. The embedded lab (',
      h('code', null, 'npm start'),
      ') prints a submit token and an operator token when it starts; operators can put hosts into maintenance.',
    ),
    input,
    ' ',
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setToken(input.value);
    void start();
  });
  fill(root, form);
  input.focus();
}

function route(path: string, ctx: Ctx): Page {
  const m = (re: RegExp) => re.exec(path);
  let found: RegExpExecArray | null;
  if (path === '/' || path === '/submissions') return submissionsPage(ctx);
  if (path === '/submissions/new') return newSubmissionPage(ctx);
  if ((found = m(/^\/submissions\/([a-z0-9]+)$/))) return submissionPage(ctx, found[1]!);
  // A job `<submission>.<n>`, or a batch of a batch run `<submission>.<n>.<m>`.
  if ((found = m(/^\/jobs\/([^/]+)$/)) && JOB_ID_PATTERN.test(found[1]!)) return jobPage(ctx, found[1]!);
  if (path === '/hosts') return hostsPage(ctx);
  if (path === '/review') return reviewPage(ctx);
  if (path === '/webhooks') return webhooksPage(ctx);
  return { el: h('div', { class: 'error-box' }, `No page at ${path}.`), dispose() {} };
}

async function start(): Promise<void> {
  takeTokenFromUrl();
  if (!token()) return signIn();
  let session: SessionInfo;
  try {
    session = await api<SessionInfo>('GET', '/me');
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      clearToken();
      return signIn(`That token was not accepted: ${err.message}`);
    }
    fill(root, h('div', { class: 'error-box' }, err instanceof Error ? err.message : String(err)));
    return;
  }

  const dot = h('span', { class: 'live-dot', title: 'live updates' });
  const notice = h('div', { class: 'notice', role: 'status', 'aria-live': 'polite' });
  const main = h('main');
  const nav = h(
    'header',
    { class: 'top' },
    h('a', { href: '/', class: 'brand' }, 'Testbay'),
    h(
      'nav',
      null,
      h('a', { href: '/' }, 'Submissions'),
      h('a', { href: '/submissions/new' }, 'New submission'),
      h('a', { href: '/hosts' }, 'Hosts'),
      h('a', { href: '/review' }, 'Needs review'),
      session.canOperate ? h('a', { href: '/webhooks' }, 'Webhooks') : null,
      h('a', { href: '/api/v1/docs', 'data-external': '' }, 'API'),
      h(
        'a',
        {
          href: `${session.temporalWebUrl}/namespaces/${encodeURIComponent(session.namespace)}/workflows`,
          target: '_blank',
          rel: 'noopener',
        },
        'Temporal Web ↗',
      ),
    ),
    h(
      'span',
      { class: 'who' },
      dot,
      ` ${session.name} (${session.role}) `,
      h(
        'button',
        {
          class: 'link',
          onclick: () => {
            clearToken();
            signIn();
          },
        },
        'change token',
      ),
    ),
  );
  fill(root, nav, notice, main);

  let noticeTimer: number | undefined;
  let page: Page | undefined;
  const ctx: Ctx = {
    session,
    navigate: (path) => {
      history.pushState(null, '', path);
      show();
    },
    notify: (text, kind = 'ok') => {
      fill(notice, h('span', { class: `notice-${kind}` }, text));
      window.clearTimeout(noticeTimer);
      noticeTimer = window.setTimeout(() => notice.replaceChildren(), kind === 'error' ? 15_000 : 5_000);
    },
  };
  const show = () => {
    page?.dispose();
    page = route(location.pathname, ctx);
    fill(main, page.el);
    nav
      .querySelectorAll('nav a')
      .forEach((a) => a.classList.toggle('active', a.getAttribute('href') === location.pathname));
  };
  window.onpopstate = show;
  document.onclick = (e) => {
    const a = (e.target as Element | null)?.closest?.('a');
    if (
      !a ||
      e.defaultPrevented ||
      e.button !== 0 ||
      e.metaKey ||
      e.ctrlKey ||
      e.shiftKey ||
      a.target ||
      a.hasAttribute('data-external')
    )
      return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
    e.preventDefault();
    ctx.navigate(url.pathname + url.search);
  };
  connectLive(dot);
  show();
}

void start();
