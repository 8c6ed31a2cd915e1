/**
 * Several API URLs (TESTBAY_URL=http://a,http://b): the client fails over between real
 * HTTP servers. A refused connection moves to the next server and stays there; a
 * connection cut mid-request sends an idempotent request (a log append at its offset, an
 * artifact, opened afresh) to the next server, but not a submission (it may have been
 * accepted); a followed log that breaks goes on from the next server where it stopped.
 * Then a real lab: a host whose first API URL is dead uploads through the second, and
 * the CLI takes the same list.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ApiUnreachable, parseApiUrls, TestbayClient } from '../../src/api/client.js';
import { loadConfig } from '../../src/config.js';
import { cli } from '../helpers/cli.js';
import { osTest, TestLab } from '../helpers/lab.js';
import { freePort } from '../helpers/ports.js';

interface Seen {
  method: string;
  url: string;
  body: Buffer;
}

/** A real HTTP server that records what reaches it and answers with `answer`. */
async function server(answer: (req: Seen, res: http.ServerResponse, socket: Socket) => void): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const s = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const r = { method: req.method!, url: req.url!, body: Buffer.concat(parts) };
      seen.push(r);
      answer(r, res, req.socket);
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const closing = () => new Promise<void>((resolve) => s.close(() => resolve()));
  servers.push(closing);
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen, close: () => (s.closeAllConnections(), closing()) };
}
const servers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((c) => c().catch(() => undefined)));
});

const json = (res: http.ServerResponse, body: unknown, status = 200) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
/** A port nothing listens on. */
const deadUrl = async () => `http://127.0.0.1:${await freePort()}`;

describe('TESTBAY_URL with several API servers', () => {
  it('parses a comma-separated list, and config and the client refuse what is not an http(s) URL', () => {
    expect(parseApiUrls(' http://a:8780/, http://b:8780 ')).toEqual(['http://a:8780', 'http://b:8780']);
    expect(() => parseApiUrls('http://a:8780,ftp://b')).toThrow(/"ftp:\/\/b" is not an http\(s\) URL/);
    expect(loadConfig({ TESTBAY_URL: 'http://a:8780,http://b:8780' }).api.url).toBe('http://a:8780,http://b:8780');
    expect(() => loadConfig({ TESTBAY_URL: 'http://a:8780,nonsense' })).toThrow(/TESTBAY_URL: http\(s\) URLs, several separated by commas/);
  });

  it('moves to the next server when one refuses connections, and stays there', async () => {
    const b = await server((_r, res) => json(res, { submissions: [] }));
    const dead = await deadUrl();
    const client = new TestbayClient(`${dead},${b.url}`, 'token-0123456789abcdef');
    const moves: string[] = [];
    client.onFailover = (from, to) => moves.push(`${from} -> ${to}`);
    expect(await client.submissions()).toEqual({ submissions: [] });
    expect(client.baseUrl).toBe(b.url);
    expect(await client.submissions()).toEqual({ submissions: [] });
    expect(moves).toEqual([`${dead} -> ${b.url}`]);
    expect(b.seen.map((s) => s.url)).toEqual(['/api/v1/submissions', '/api/v1/submissions']);
    // A submission that never reached a server is sent to the next one too.
    const c = new TestbayClient([dead, b.url], 'token-0123456789abcdef');
    await c.submit({ jobs: [] });
    expect(b.seen.at(-1)).toMatchObject({ method: 'POST', url: '/api/v1/submissions' });
  });

  it('sends a log append cut off mid-request to the next server at the same offset, and an artifact again from its first byte', async () => {
    const a = await server((_r, _res, socket) => socket.destroy()); // dies with the request in hand
    const b = await server((r, res) => json(res, r.url.includes('/log') ? { size: 7 + r.body.length } : { name: 'shot.png', sizeBytes: r.body.length }, r.url.includes('/log') ? 200 : 201));
    const client = new TestbayClient([a.url, b.url], 'token-0123456789abcdef');
    expect(await client.appendLog('s1.1', 'lease', 7, Buffer.from('hello\n'))).toEqual({ size: 13 });
    expect(a.seen.map((s) => s.url)).toEqual(['/api/v1/jobs/s1.1/log?offset=7']);
    expect(b.seen.map((s) => [s.url, s.body.toString()])).toEqual([['/api/v1/jobs/s1.1/log?offset=7', 'hello\n']]);

    const back = new TestbayClient([a.url, b.url], 'token-0123456789abcdef');
    const bytes = Buffer.alloc(200_000, 7);
    let opened = 0;
    const info = await back.putArtifact('s1.1', 'lease', 'shot.png', () => (opened++, Readable.from([bytes.subarray(0, 100_000), bytes.subarray(100_000)])), bytes.length);
    expect(info).toEqual({ name: 'shot.png', sizeBytes: bytes.length });
    expect(opened).toBe(2);
    expect(b.seen.at(-1)!.body.equals(bytes)).toBe(true);
  });

  it('does not send a submission to the next server when the first may have accepted it', async () => {
    const a = await server((_r, _res, socket) => socket.destroy());
    const b = await server((_r, res) => json(res, { id: 'x', workflowId: 'x', jobs: [] }));
    const client = new TestbayClient([a.url, b.url], 'token-0123456789abcdef');
    const err = await client.submit({ jobs: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiUnreachable);
    expect((err as Error).message).toMatch(/may have reached it, so it is not sent to http:\/\/127\.0\.0\.1:\d+/);
    expect(b.seen).toEqual([]);
    // The next request goes to the server that answers.
    expect(client.baseUrl).toBe(b.url);
  });

  it('says which servers it tried when none answers', async () => {
    const urls = [await deadUrl(), await deadUrl()];
    const client = new TestbayClient(urls, 'token-0123456789abcdef');
    await expect(client.submissions()).rejects.toThrow(new RegExp(`cannot reach any Testbay API server \\(${urls.join(', ')}\\)`));
  });

  it('follows a log on the next server from where the first stream broke', async () => {
    const a = await server((_r, res, socket) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: start\ndata: {"start":0,"size":9}\n\nevent: log\ndata: ${JSON.stringify('héllo\n')}\n\n`);
      setTimeout(() => socket.destroy(), 50);
    });
    const b = await server((r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`event: start\ndata: {"start":7,"size":12}\n\nevent: log\ndata: ${JSON.stringify('world\n')}\n\nevent: end\ndata: {"result":{"kind":"passed"}}\n\n`);
      void r;
    });
    const client = new TestbayClient([a.url, b.url], 'token-0123456789abcdef');
    let text = '';
    expect(await client.followLog('s1.1', (t) => (text += t))).toEqual({ kind: 'passed' });
    expect(text).toBe('héllo\nworld\n');
    // 'héllo\n' is 7 bytes of UTF-8: the second stream starts there.
    expect(b.seen.map((s) => s.url)).toEqual(['/api/v1/jobs/s1.1/log?follow=1&start=7']);
  });
});

describe('a lab whose hosts and CLI are given two API URLs, the first dead', () => {
  let lab: TestLab | undefined;
  afterAll(async () => lab?.stop());

  it('runs a job: the host uploads its log and results through the second, and the CLI reads them there', async () => {
    const dead = await deadUrl();
    lab = await TestLab.start({ name: 'failover', engine: 'postgres', hosts: [{ id: 'f1' }] });
    await lab.stopHost('f1');
    await lab.startHost({ id: 'f1', env: { TESTBAY_URL: `${dead},${lab.api.baseUrl}` } });
    const { id, jobs } = await lab.submit({ jobs: [osTest('through-b', { MODULES: 'boot,install', MODULE_MS: '200', LOG_LINES: '2' })] });
    expect((await lab.waitForSubmission(id)).result).toBe('passed');
    const log = await lab.api.log(jobs[0]!.id);
    expect(log).toMatch(/all modules passed\n$/);
    expect((await lab.api.job(jobs[0]!.id)).tests.map((t) => t.status)).toEqual(['passed', 'passed']);
    const env = { TESTBAY_URL: `${dead},${lab.api.baseUrl}`, TESTBAY_TOKEN: lab.tokens.submit, TESTBAY_DATA_DIR: lab.dir };
    const shown = await cli(['logs', jobs[0]!.id], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toBe(log);
  });
});
