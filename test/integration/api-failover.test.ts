/**
 * Several API URLs (TESTBAY_URL=http://a,http://b): the client fails over between real
 * HTTP servers. A refused connection moves to the next server and stays there; a
 * connection cut mid-request sends an idempotent request (a log append at its offset, an
 * artifact, opened afresh) to the next server, but not a submission (it may have been
 * accepted); a followed log that breaks goes on from the next server where it stopped.
 * Then a real lab: a host whose first API URL is dead uploads through the second, and
 * the CLI takes the same list.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ApiUnreachable, parseApiUrls, TestbayClient } from '../../src/api/client.js';
import { startServer, type RunningServer } from '../../src/api/server.js';
import { loadConfig } from '../../src/config.js';
import { validateSpec } from '../../src/domain/parse-spec.js';
import { buildPlan } from '../../src/domain/plan.js';
import { createLogger } from '../../src/logger.js';
import { PayloadKey, payloadKeyFile } from '../../src/sealing.js';
import { cli } from '../helpers/cli.js';
import { osTest, TestLab } from '../helpers/lab.js';
import { freePort } from '../helpers/ports.js';
import { engineEnv } from '../helpers/store-engines.js';

interface Seen {
  method: string;
  url: string;
  body: Buffer;
}

/** A real HTTP server that records what reaches it and answers with `answer`. */
async function server(
  answer: (req: Seen, res: http.ServerResponse, socket: Socket) => void,
): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
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
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    seen,
    close: () => (s.closeAllConnections(), closing()),
  };
}
const servers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((c) => c().catch(() => undefined)));
});

const json = (res: http.ServerResponse, body: unknown, status = 200) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
/** A port nothing listens on. */
const deadUrl = async () => `http://127.0.0.1:${await freePort()}`;

describe('TESTBAY_URL with several API servers', () => {
  it('parses a comma-separated list, and config and the client refuse what is not an http(s) URL', () => {
    expect(parseApiUrls(' http://a:8780/, http://b:8780 ')).toEqual(['http://a:8780', 'http://b:8780']);
    expect(() => parseApiUrls('http://a:8780,ftp://b')).toThrow(/"ftp:\/\/b" is not an http\(s\) URL/);
    expect(loadConfig({ TESTBAY_URL: 'http://a:8780,http://b:8780' }).api.url).toBe('http://a:8780,http://b:8780');
    expect(() => loadConfig({ TESTBAY_URL: 'http://a:8780,nonsense' })).toThrow(
      /TESTBAY_URL: http\(s\) URLs, several separated by commas/,
    );
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
    const b = await server((r, res) =>
      json(
        res,
        r.url.includes('/log') ? { size: 7 + r.body.length } : { name: 'shot.png', sizeBytes: r.body.length },
        r.url.includes('/log') ? 200 : 201,
      ),
    );
    const client = new TestbayClient([a.url, b.url], 'token-0123456789abcdef');
    expect(await client.appendLog('s1.1', 'lease', 7, Buffer.from('hello\n'))).toEqual({ size: 13 });
    expect(a.seen.map((s) => s.url)).toEqual(['/api/v1/jobs/s1.1/log?offset=7']);
    expect(b.seen.map((s) => [s.url, s.body.toString()])).toEqual([['/api/v1/jobs/s1.1/log?offset=7', 'hello\n']]);

    const back = new TestbayClient([a.url, b.url], 'token-0123456789abcdef');
    const bytes = Buffer.alloc(200_000, 7);
    let opened = 0;
    const info = await back.putArtifact(
      's1.1',
      'lease',
      'shot.png',
      () => (opened++, Readable.from([bytes.subarray(0, 100_000), bytes.subarray(100_000)])),
      bytes.length,
    );
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
    await expect(client.submissions()).rejects.toThrow(
      new RegExp(`cannot reach any Testbay API server \\(${urls.join(', ')}\\)`),
    );
  });

  it('follows a log on the next server from where the first stream broke', async () => {
    const a = await server((_r, res, socket) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: start\ndata: {"start":0,"size":9}\n\nevent: log\ndata: ${JSON.stringify('héllo\n')}\n\n`);
      setTimeout(() => socket.destroy(), 50);
    });
    const b = await server((r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        `event: start\ndata: {"start":7,"size":12}\n\nevent: log\ndata: ${JSON.stringify('world\n')}\n\nevent: end\ndata: {"result":{"kind":"passed"}}\n\n`,
      );
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

/**
 * A hung server: it takes connections and never answers. With `reads`, it reads what it is
 * sent (and keeps the request lines); without, not even that (an upload to it stalls).
 */
async function hungServer(reads: boolean): Promise<{ url: string; requests: string[] }> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const s = net.createServer((socket) => {
    sockets.add(socket);
    if (!reads) socket.pause();
    else
      socket.on('data', (d: Buffer) =>
        requests.push(
          ...d
            .toString('latin1')
            .split('\r\n')
            .filter((l) => /^[A-Z]+ \/\S* HTTP\/1\.1$/.test(l)),
        ),
      );
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  servers.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => s.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, requests };
}

// Short limits, through configuration as a deployment sets them.
const timeouts = loadConfig({ TESTBAY_API_TIMEOUT_MS: '1000', TESTBAY_API_FOLLOW_IDLE_MS: '1000' }).api.clientTimeouts;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('an API server that takes connections and never answers', () => {
  it('reads TESTBAY_API_TIMEOUT_MS and TESTBAY_API_FOLLOW_IDLE_MS, with 30 s and 45 s by default', () => {
    expect(timeouts).toEqual({ requestTimeoutMs: 1000, followIdleMs: 1000 });
    expect(loadConfig({}).api.clientTimeouts).toEqual({ requestTimeoutMs: 30_000, followIdleMs: 45_000 });
    expect(() => loadConfig({ TESTBAY_API_TIMEOUT_MS: '0' })).toThrow(/TESTBAY_API_TIMEOUT_MS/);
  });

  it('times out a request to it, and sends an idempotent one to the next server', async () => {
    const hung = await hungServer(true);
    const b = await server((r, res) =>
      json(res, r.url.includes('/log') ? { size: 7 + r.body.length } : { submissions: [] }),
    );
    const client = new TestbayClient([hung.url, b.url], 'token-0123456789abcdef', timeouts);
    const moves: string[] = [];
    client.onFailover = (from, to, reason) => moves.push(`${from} -> ${to}: ${reason}`);
    expect(await client.submissions()).toEqual({ submissions: [] });
    expect(moves).toEqual([`${hung.url} -> ${b.url}: no answer for 1 s`]);
    expect(hung.requests).toEqual(['GET /api/v1/submissions HTTP/1.1']);
    // A log append (a POST, idempotent at its offset) too, at the same offset.
    const back = new TestbayClient([hung.url, b.url], 'token-0123456789abcdef', timeouts);
    expect(await back.appendLog('s1.1', 'lease', 7, Buffer.from('hello\n'))).toEqual({ size: 13 });
    expect(b.seen.at(-1)).toMatchObject({ method: 'POST', url: '/api/v1/jobs/s1.1/log?offset=7' });
    expect(b.seen.at(-1)!.body.toString()).toBe('hello\n');
    expect(hung.requests.at(-1)).toBe('POST /api/v1/jobs/s1.1/log?offset=7 HTTP/1.1');
  });

  it('sends a 4 MiB log chunk and an artifact that it never read to the next server whole', async () => {
    const hung = await hungServer(false);
    const b = await server((r, res) =>
      json(
        res,
        r.url.includes('/log') ? { size: r.body.length } : { name: 'disk.img', sizeBytes: r.body.length },
        r.url.includes('/log') ? 200 : 201,
      ),
    );
    const chunk = Buffer.alloc(4 * 1024 * 1024, 'x');
    const client = new TestbayClient([hung.url, b.url], 'token-0123456789abcdef', timeouts);
    expect(await client.appendLog('s1.1', 'lease', 0, chunk)).toEqual({ size: chunk.length });
    expect(b.seen.at(-1)!.body.equals(chunk)).toBe(true);

    const again = new TestbayClient([hung.url, b.url], 'token-0123456789abcdef', timeouts);
    const image = Buffer.alloc(8 * 1024 * 1024, 3);
    let opened = 0;
    const info = await again.putArtifact(
      's1.1',
      'lease',
      'disk.img',
      () => (opened++, Readable.from([image.subarray(0, 4 << 20), image.subarray(4 << 20)])),
      image.length,
    );
    expect(info).toEqual({ name: 'disk.img', sizeBytes: image.length });
    expect(opened).toBe(2);
    expect(b.seen.at(-1)!.body.equals(image)).toBe(true);
  });

  it('does not send a submission that timed out again (it may have been accepted), and says so', async () => {
    const hung = await hungServer(true);
    const b = await server((_r, res) => json(res, { id: 'x', workflowId: 'x', jobs: [] }));
    const client = new TestbayClient([hung.url, b.url], 'token-0123456789abcdef', timeouts);
    const err = await client.submit({ jobs: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiUnreachable);
    expect((err as Error).message).toBe(
      `the Testbay API at ${hung.url} did not answer: no answer for 1 s (the request may have reached it, so it is not sent to ${b.url}: look whether it was done before trying again)`,
    );
    expect(b.seen).toEqual([]);
    expect(client.baseUrl).toBe(b.url);
    // With one server: not sent again either.
    const alone = new TestbayClient(hung.url, 'token-0123456789abcdef', timeouts);
    await expect(alone.submit('jobs: []\n')).rejects.toThrow(
      /did not answer: no answer for 1 s \(the request may have reached it, so it is not sent again: look whether it was done/,
    );
    expect(hung.requests).toEqual(['POST /api/v1/submissions HTTP/1.1', 'POST /api/v1/submissions HTTP/1.1']);
  });

  it('the CLI takes TESTBAY_API_TIMEOUT_MS: it reads through the next server, and a submission that timed out exits 4 unsent', async () => {
    const hung = await hungServer(true);
    const b = await server((_r, res) => json(res, { submissions: [] }));
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-cli-timeout-'));
    try {
      const env = {
        TESTBAY_URL: `${hung.url},${b.url}`,
        TESTBAY_TOKEN: 'token-0123456789abcdef',
        TESTBAY_DATA_DIR: dir,
        TESTBAY_API_TIMEOUT_MS: '1000',
      };
      const listed = await cli(['status', '--json'], env);
      expect(listed.code, listed.stderr).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual([]);
      await fs.writeFile(
        path.join(dir, 'spec.yaml'),
        'jobs:\n  - name: a\n    workerClass: local\n    runner: { command: ["true"] }\n',
      );
      const submitted = await cli(['submit', path.join(dir, 'spec.yaml')], { ...env, TESTBAY_URL: hung.url });
      expect(submitted.code).toBe(4);
      expect(submitted.stderr).toContain(
        `the Testbay API at ${hung.url} did not answer: no answer for 1 s (the request may have reached it, so it is not sent again`,
      );
      expect(hung.requests).toEqual(['GET /api/v1/submissions?limit=20 HTTP/1.1', 'POST /api/v1/submissions HTTP/1.1']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('does not cut an upload or a download that is slow but keeps moving, however long it takes', async () => {
    const b = await server((r, res) => {
      if (r.method === 'PUT') {
        json(res, { name: 'slow.bin', sizeBytes: r.body.length }, 201);
        return;
      }
      // A download that trickles: a part every 100 ms, 1.5 s in all (the limit is 1 s without progress).
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let parts = 0;
      const timer = setInterval(() => {
        res.write(Buffer.alloc(1000, parts));
        if (++parts === 15) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
    });
    const client = new TestbayClient(b.url, 'token-0123456789abcdef', timeouts);
    const moves: string[] = [];
    client.onFailover = (from) => moves.push(from);
    // An artifact read from a slow disk: a part every 100 ms.
    async function* slowFile(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 15; i++) {
        await sleep(100);
        yield Buffer.alloc(1000, i);
      }
    }
    const started = Date.now();
    expect(await client.putArtifact('s1.1', 'lease', 'slow.bin', () => Readable.from(slowFile()), 15_000)).toEqual({
      name: 'slow.bin',
      sizeBytes: 15_000,
    });
    expect(Date.now() - started).toBeGreaterThan(timeouts.requestTimeoutMs);
    const downloaded = await client.artifact('s1.1', 'slow.bin');
    expect(downloaded.length).toBe(15_000);
    expect(downloaded[14_999]).toBe(14);
    expect(moves).toEqual([]);
  });

  it('follows a log on the next server when the stream goes silent, keep-alives included', async () => {
    // Server A sends a log event (its id: the byte it ends at), then nothing at all.
    const a = await server((_r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(
        `: following\n\nevent: start\ndata: {"start":0,"size":6}\n\nevent: log\nid: 6\ndata: ${JSON.stringify('h\uFFFDllo\n')}\n\n`,
      );
    });
    // Server B keeps the stream alive with comments for longer than the limit, then ends it.
    const b = await server((_r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': following\n\nevent: start\ndata: {"start":6,"size":12}\n\n');
      let beats = 0;
      const timer = setInterval(() => {
        res.write(': keep-alive\n\n');
        if (++beats < 8) return;
        clearInterval(timer);
        res.end(
          `event: log\nid: 12\ndata: ${JSON.stringify('world\n')}\n\nevent: end\ndata: {"result":{"kind":"passed"}}\n\n`,
        );
      }, 200);
    });
    const client = new TestbayClient([a.url, b.url], 'token-0123456789abcdef', timeouts);
    const moves: string[] = [];
    client.onFailover = (from, to, reason) => moves.push(`${from} -> ${to}: ${reason}`);
    let text = '';
    expect(await client.followLog('s1.1', (t) => (text += t))).toEqual({ kind: 'passed' });
    expect(text).toBe('h\uFFFDllo\nworld\n');
    // At the id, not the text's UTF-8 length (8: its U+FFFD stood for one byte, 0xFF).
    expect(b.seen.map((s) => s.url)).toEqual(['/api/v1/jobs/s1.1/log?follow=1&start=6']);
    expect(moves).toEqual([`${a.url} -> ${b.url}: no answer for 1 s`]);
  });
});

describe('a followed log through the real API, cut off mid-stream', () => {
  let api: RunningServer | undefined;
  let dir = '';
  afterAll(async () => {
    await api?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('goes on from the byte where the first stream stopped, with characters split across chunks and bytes that are not UTF-8', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'testbay-follow-bytes-'));
    await fs.writeFile(payloadKeyFile(dir), `${PayloadKey.generate().toText()}\n`, { mode: 0o600 });
    const token = 'token-follow-0123456789abcdef';
    const env = {
      ...(await engineEnv('pglite', dir)),
      TESTBAY_TOKENS: JSON.stringify([{ token, role: 'operate', name: 'operator' }]),
      TESTBAY_PORT: '0',
    };
    api = await startServer(
      loadConfig(env),
      createLogger('api', 'warn', () => undefined),
      0,
    );
    const parsed = validateSpec({
      name: 'bytes',
      jobs: [{ name: 'j', workerClass: 'local', runner: { command: ['true'] } }],
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const sid = 'sbytes01';
    await api.store.createSubmission({
      id: sid,
      createdAt: new Date().toISOString(),
      name: 'bytes',
      submission: parsed.submission,
      plan: buildPlan(parsed.submission),
      workflowId: `sub-${sid}`,
    });
    const jobId = `${sid}.1`;
    await api.store.openJob({
      jobId,
      submissionId: sid,
      name: 'j',
      attempt: 1,
      setNumber: 1,
      hostId: 'h1',
      leaseId: 'lease-id',
      leaseToken: 'lease',
    });
    // Uploaded in three chunks: '€' split 2|1 and '😀' split 2|2 between them, a byte that is
    // never UTF-8 (0xFF) in the first, and a character cut short (E2 82, then a space) in the last.
    const chunks = [
      Buffer.concat([
        Buffer.from('héllo '),
        Buffer.from([0xff]),
        Buffer.from(' wörld '),
        Buffer.from('€').subarray(0, 2),
      ]),
      Buffer.concat([Buffer.from('€').subarray(2), Buffer.from(' grin '), Buffer.from('😀').subarray(0, 2)]),
      Buffer.concat([
        Buffer.from('😀').subarray(2),
        Buffer.from(' cut: '),
        Buffer.from([0xe2, 0x82]),
        Buffer.from(' end\n'),
      ]),
    ];
    let offset = 0;
    for (const chunk of chunks) {
      await api.store.appendLog(jobId, 'lease', offset, chunk);
      offset += chunk.length;
    }
    await api.store.finishJob(jobId, 'lease-id', { kind: 'passed' });
    // Two "servers": the real API behind a proxy that passes its answer up to the end of
    // the first log event and then drops the connection, and behind one that passes it all.
    const apiPort = (api.server.address() as AddressInfo).port;
    const first = await proxy(apiPort, true);
    const second = await proxy(apiPort, false);
    const client = new TestbayClient([first.url, second.url], token);
    const parts: string[] = [];
    expect(await client.followLog(jobId, (t) => parts.push(t))).toEqual({ kind: 'passed' });
    const whole = Buffer.concat(chunks);
    expect(parts.join('')).toBe(new TextDecoder().decode(whole));
    // The first stream gave the first chunk but the half of '€' it ends with: 'héllo \uFFFD wörld '
    // (whose UTF-8 is 2 bytes longer than the 16 bytes it stands for).
    expect(parts[0]).toBe('héllo \uFFFD wörld ');
    expect(first.requests).toEqual([`GET /api/v1/jobs/${jobId}/log?follow=1 HTTP/1.1`]);
    // 'héllo ', 0xFF, ' wörld ': 16 bytes (its text's UTF-8 is 18), where the second stream starts.
    expect(second.requests).toEqual([`GET /api/v1/jobs/${jobId}/log?follow=1&start=16 HTTP/1.1`]);
    expect(client.baseUrl).toBe(second.url);
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
    const { id, jobs } = await lab.submit({
      jobs: [osTest('through-b', { MODULES: 'boot,install', MODULE_MS: '200', LOG_LINES: '2' })],
    });
    expect((await lab.waitForSubmission(id)).result).toBe('passed');
    const log = await lab.api.log(jobs[0]!.id);
    expect(log).toMatch(/all modules passed\n$/);
    expect((await lab.api.job(jobs[0]!.id)).tests.map((t) => t.status)).toEqual(['passed', 'passed']);
    const env = {
      TESTBAY_URL: `${dead},${lab.api.baseUrl}`,
      TESTBAY_TOKEN: lab.tokens.submit,
      TESTBAY_DATA_DIR: lab.dir,
    };
    const shown = await cli(['logs', jobs[0]!.id], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toBe(log);
  });
});

/**
 * A TCP proxy to the API on `port` that records the request lines it passes; with
 * `cutAfterFirstLog` it passes the answer up to the end of the first `log` event, then
 * drops both connections (a server that goes away mid-stream).
 */
async function proxy(port: number, cutAfterFirstLog: boolean): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const p = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => {
      if (/^[A-Z]+ \//.test(d.toString('latin1'))) requests.push(d.toString('latin1').split('\r\n')[0]!);
      upstream.write(d);
    });
    let seen = Buffer.alloc(0);
    upstream.on('data', (d: Buffer) => {
      const before = seen.length;
      seen = Buffer.concat([seen, d]);
      const log = cutAfterFirstLog ? seen.indexOf('event: log') : -1;
      const end = log === -1 ? -1 : seen.indexOf('\n\n', log);
      if (end === -1) return void client.write(d);
      upstream.destroy();
      client.write(d.subarray(0, end + 2 - before), () => client.destroy());
    });
    upstream.on('end', () => client.end());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => p.listen(0, '127.0.0.1', resolve));
  servers.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => p.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(p.address() as AddressInfo).port}`, requests };
}
