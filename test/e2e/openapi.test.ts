/**
 * The API's description: the OpenAPI document and the job-spec JSON Schema are served
 * without a token, every reference in them resolves, the repo's schema file is up to
 * date, every route the express app registers is documented (and nothing else is), and
 * real responses have exactly the documented shape (zod strips undocumented fields, so a
 * response that differs from its parse has fields the document lacks).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as S from '../../src/api/routes/api-schemas.js';
import * as R from '../../src/api/routes/review-schemas.js';
import { createApp } from '../../src/api/app.js';
import type { RouteDeps } from '../../src/api/routes/deps.js';
import { jobSpecSchemaText, openApiDocument, OPERATIONS, ROOT_OPERATIONS } from '../../src/api/routes/openapi.js';
import { createLogger } from '../../src/logger.js';
import { PROJECT_ROOT } from '../../src/temporal/binary.js';
import { cli } from '../helpers/cli.js';
import { osTest, TestLab } from '../helpers/lab.js';

let lab: TestLab;
beforeAll(async () => {
  lab = await TestLab.start({ name: 'openapi', hosts: [{ id: 'o1' }] });
});
afterAll(async () => {
  await lab?.stop();
});

const get = (p: string, token?: string) =>
  fetch(`${lab.api.baseUrl}${p}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

function refs(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, found);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') found.push(v);
      else refs(v, found);
    }
  }
  return found;
}

interface RouterLayer {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle: { stack?: RouterLayer[] };
}

/** Every route the express app registers, as `method path` in OpenAPI's notation. */
function registeredRoutes(): string[] {
  // The app is only built, never served: the routes need no working store or Temporal.
  const deps = {
    store: { subscribe: () => () => undefined },
    streams: (_req: unknown, _res: unknown, next: () => void) => next(),
    log: createLogger('test', 'error', () => undefined),
  } as unknown as RouteDeps;
  const app = createApp(deps) as unknown as { router: { stack: RouterLayer[] } };
  const found: string[] = [];
  const walk = (stack: RouterLayer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const p of [layer.route.path].flat()) {
          const openApiPath = `${prefix}${String(p)}`.replace(/:(\w+)/g, '{$1}').replace(/\*(\w+)/g, '{$1}');
          for (const method of Object.keys(layer.route.methods)) found.push(`${method} ${openApiPath}`);
        }
      } else if (layer.handle.stack) {
        walk(
          layer.handle.stack,
          prefix + (typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : ''),
        );
      }
    }
  };
  walk(app.router.stack, '');
  return found;
}

describe('OpenAPI and the job-spec schema', () => {
  it("documents every route the app registers, and only those (the dashboard's pages aside)", () => {
    const routes = registeredRoutes();
    expect(routes.length).toBeGreaterThan(30);
    const api = routes.filter((r) => r.includes(' /api/v1/')).map((r) => r.replace(' /api/v1/', ' /'));
    const root = routes.filter(
      (r) => !r.includes(' /api/v1/') && !/ \/(dashboard\/|submissions|jobs|hosts|review|$)/.test(r),
    );
    expect(root).toEqual(['get /metrics']);
    const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, item]) =>
      Object.keys(item)
        .filter((k) => k !== 'servers')
        .map((m) => `${m} ${p}`),
    );
    for (const r of [...api, ...root]) expect(documented, `${r} is served but not in openapi.json`).toContain(r);
    expect(documented.sort()).toEqual([...api, ...root].sort());
    expect(OPERATIONS.map((o) => `${o.method} ${o.path}`).sort()).toEqual(api.sort());
    expect(ROOT_OPERATIONS.map((o) => `${o.method} ${o.path}`)).toEqual(root);
  });

  it('documents the validators the routes use: batch job ids match, bodies are strict', () => {
    const doc = openApiDocument() as {
      paths: Record<string, Record<string, { parameters?: { name: string; schema: { pattern?: string } }[] }>>;
      components: {
        schemas: Record<
          string,
          { additionalProperties?: boolean; properties?: Record<string, { minLength?: number }> }
        >;
      };
    };
    const pattern = new RegExp(
      doc.paths['/jobs/{id}/log']!.get!.parameters!.find((p) => p.name === 'id')!.schema.pattern!,
    );
    expect(pattern.test('abcdef123.4')).toBe(true);
    expect(pattern.test('abcdef123.4.17')).toBe(true);
    expect(pattern.test('abcdef123')).toBe(false);
    for (const body of [
      'ReasonBody',
      'RestartBody',
      'MaintenanceBody',
      'ProgressBody',
      'TestsBody',
      'MarkBrokenBody',
      'OpenJobBody',
      'FinishJobBody',
      'CommentBody',
      'LabelBody',
      'RerunBody',
    ]) {
      expect(
        doc.components.schemas[body]?.additionalProperties,
        `${body} refuses unknown fields, as its route does`,
      ).toBe(false);
    }
    expect(doc.components.schemas.MarkBrokenBody?.properties?.reason?.minLength).toBe(1);
  });

  it('keeps schema/job-spec.schema.json up to date with the zod schema', async () => {
    const file = await fs.readFile(path.join(PROJECT_ROOT, 'schema', 'job-spec.schema.json'), 'utf8');
    expect(file, 'regenerate with: npx testbay schema > schema/job-spec.schema.json').toBe(jobSpecSchemaText());
    const printed = await cli(['schema'], {});
    expect(printed.stdout).toBe(file);
  });

  it('serves the OpenAPI document, the docs page and the schema without a token', async () => {
    const res = await get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const op of OPERATIONS) expect(doc.paths[op.path]?.[op.method], `${op.method} ${op.path}`).toBeDefined();
    for (const ref of refs(doc))
      expect(doc.components.schemas[ref.replace('#/components/schemas/', '')], ref).toBeDefined();
    const spec = doc.components.schemas.JobSpec as { properties: Record<string, unknown> };
    expect(Object.keys(spec.properties)).toEqual(expect.arrayContaining(['name', 'defaults', 'jobs']));

    const docs = await get('/api/v1/docs');
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    const html = await docs.text();
    expect(html).toContain('<code>/api/v1/jobs/{id}/restart</code>');
    expect(html).not.toMatch(/https?:\/\/(?!testbay\.invalid)[a-z]/i);

    const schema = await get('/api/v1/job-spec.schema.json');
    expect(await schema.text()).toBe(jobSpecSchemaText());
  });

  it('describes real responses exactly', async () => {
    const created = await lab.submit({
      name: 'described',
      jobs: [osTest('a'), osTest('b', {}, { startAfter: ['a'] })],
    });
    expect(S.accepted.parse(created)).toEqual(created);
    await lab.waitForSubmission(created.id);
    const token = lab.tokens.operate;
    const check = async (p: string, schema: { parse(v: unknown): unknown }) => {
      const body: unknown = await (await get(`/api/v1${p}`, token)).json();
      expect(schema.parse(body), p).toEqual(body);
    };
    await check(`/submissions/${created.id}`, S.submission);
    await check('/submissions', S.submissionList);
    await check(`/jobs/${created.id}.1`, S.jobDetails);
    await check('/hosts', S.lab);
    await check('/me', S.session);
    await check(`/submissions/${created.id}/plan`, S.plan);
    await check(`/jobs/${created.id}.1/tests`, S.testList);
    await check(`/jobs/${created.id}.1/artifacts`, S.artifactList);

    // A batch run: its view, one of its batches as a job, and its verdicts.
    const batch = await lab.submit({
      name: 'batch-described',
      batchRuns: [
        {
          name: 'suite',
          workerClass: 'local',
          runner: { command: ['batch-test'] },
          settings: { TEST_MS: '10' },
          batchSize: 2,
          tests: ['t1', 't2', 'fail-3'],
        },
      ],
    });
    const done = await lab.waitForSubmission(batch.id);
    const run = done.batchRuns![0]!;
    await check(`/submissions/${batch.id}`, S.submission);
    await check(`/jobs/${run.id}/verdicts`, S.verdictList);
    await check(`/jobs/${run.id}.1`, S.jobDetails);
    await check(`/jobs/${run.id}`, S.batchRunDetails);
    await check(`/jobs/${run.id}`, S.jobOrBatchRun);
    const verdicts = S.verdictList.parse(await (await get(`/api/v1/jobs/${run.id}/verdicts`, token)).json());
    expect(verdicts.verdicts.map((v) => [v.test, v.verdict]).sort()).toEqual([
      ['fail-3', 'failed'],
      ['t1', 'passed'],
      ['t2', 'passed'],
    ]);
    // Review: a scenario's history (and one batch-run test's), an investigation, comments, labels, the review list.
    await check(`/scenarios/a@local/history`, R.scenarioHistory);
    await check(`/scenarios/${encodeURIComponent('suite@local/fail-3')}/history`, R.scenarioHistory);
    await check(`/jobs/${created.id}.1/investigation`, R.investigation);
    await lab.api.comment(`${created.id}.1`, 'see bsc#1');
    await check(`/jobs/${created.id}.1/comments`, R.commentList);
    await check(`/submissions/${created.id}/comments`, R.commentList);
    await lab.api.label(`${created.id}.1`, 'flaky');
    await check(`/jobs/${created.id}.1/labels`, R.labelList);
    await check('/review', R.reviewList);
    const bad: unknown = await (await get('/api/v1/submissions/..x', token)).json();
    expect(S.errorBody.parse(bad)).toEqual(bad);
  });
});
