/**
 * The API's description: the OpenAPI document and the job-spec JSON Schema are served
 * without a token, every reference in them resolves, the repo's schema file is up to
 * date, and real responses have exactly the documented shape (zod strips undocumented
 * fields, so a response that differs from its parse has fields the document lacks).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as S from '../../src/api/routes/api-schemas.js';
import { jobSpecSchemaText, OPERATIONS } from '../../src/api/routes/openapi.js';
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

const get = (p: string, token?: string) => fetch(`${lab.api.baseUrl}${p}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

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

describe('OpenAPI and the job-spec schema', () => {
  it('keeps schema/job-spec.schema.json up to date with the zod schema', async () => {
    const file = await fs.readFile(path.join(PROJECT_ROOT, 'schema', 'job-spec.schema.json'), 'utf8');
    expect(file, 'regenerate with: npx testbay schema > schema/job-spec.schema.json').toBe(jobSpecSchemaText());
    const printed = await cli(['schema'], {});
    expect(printed.stdout).toBe(file);
  });

  it('serves the OpenAPI document, the docs page and the schema without a token', async () => {
    const res = await get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe('3.1.0');
    for (const op of OPERATIONS) expect(doc.paths[op.path]?.[op.method], `${op.method} ${op.path}`).toBeDefined();
    for (const ref of refs(doc)) expect(doc.components.schemas[ref.replace('#/components/schemas/', '')], ref).toBeDefined();
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
    const created = await lab.submit({ name: 'described', jobs: [osTest('a'), osTest('b', {}, { startAfter: ['a'] })] });
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
    const bad: unknown = await (await get('/api/v1/submissions/..x', token)).json();
    expect(S.errorBody.parse(bad)).toEqual(bad);
  });
});
