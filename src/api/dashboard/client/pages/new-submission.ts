/**
 * @module Submit a job spec from the browser: YAML or JSON in a text box, sent as is;
 * a bad spec comes back with every issue's path, shown next to the box.
 */
import { api } from '../api.js';
import { fill, h } from '../dom.js';
import { errorBox, type Ctx, type Page } from '../page.js';

const EXAMPLE = `# A chain (install, then desktop on the same host) and a job after it.
name: from-the-dashboard
defaults:
  workerClass: local
  runner: { command: [os-test] }
jobs:
  - name: install
    settings: { MODULES: "boot,install" }
  - name: desktop
    startDirectlyAfter: install
    settings: { MODULES: "login,desktop" }
  - name: report
    startAfter: desktop
    settings: { MODULES: "report" }
`;

export function newSubmissionPage(ctx: Ctx): Page {
  const text = h(
    'textarea',
    { name: 'spec', rows: 22, cols: 90, spellcheck: false, 'aria-label': 'job spec' },
    EXAMPLE,
  );
  const out = h('div');
  const button = h('button', { type: 'submit' }, 'Submit');
  const form = h(
    'form',
    { class: 'new-submission' },
    text,
    h(
      'div',
      null,
      button,
      ' ',
      h('span', { class: 'hint' }, 'YAML or JSON; the schema: '),
      h('a', { href: '/api/v1/job-spec.schema.json', 'data-external': '' }, 'job-spec.schema.json'),
    ),
    out,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    button.disabled = true;
    api<{ id: string }>('POST', '/submissions', text.value, 'application/yaml').then(
      (created) => ctx.navigate(`/submissions/${created.id}`),
      (err: unknown) => {
        button.disabled = false;
        fill(out, errorBox(err));
      },
    );
  });
  return { el: h('section', null, h('h1', null, 'New submission'), form), dispose() {} };
}
