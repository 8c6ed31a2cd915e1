// The results reader's worker thread (see results-reader.ts): parses a job's JUnit XML and
// TAP files off the host's event loop, within limits. A request names the files; each is
// opened without following a symlink, taken only if it is a regular file (of the runner
// user, when one is given), sniffed (XML with <testsuite> or <testcase>; any `.tap` file),
// and read up to the size it had when opened. It answers `{id, cases}`, or `{id, tooLarge}`
// as soon as the files together pass maxBytes or their testcases pass maxTestcases.
// Plain JavaScript: a worker does not inherit the TypeScript loader.
import fs from 'node:fs';
import path from 'node:path';
import { parentPort } from 'node:worker_threads';
import { XMLParser } from 'fast-xml-parser';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  isArray: (name) => ['testsuite', 'testcase'].includes(name),
});
const MAX_MESSAGE = 10_000;
const SNIFF_BYTES = 16 * 1024;

function text(v) {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null) {
    const parts = [v.message, v['#text']].filter((x) => typeof x === 'string');
    return parts.join(': ') || '';
  }
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

function toCase(tc) {
  const failure = tc.failure;
  const error = tc.error;
  const skipped = tc.skipped;
  const status =
    failure !== undefined ? 'failed' : error !== undefined ? 'error' : skipped !== undefined ? 'skipped' : 'passed';
  const result = { name: text(tc.name) ?? 'unnamed', status };
  const classname = text(tc.classname);
  if (classname !== undefined) result.classname = classname;
  const seconds = Number(tc.time);
  if (Number.isFinite(seconds)) result.durationMs = Math.round(seconds * 1000);
  const message = text(failure ?? error ?? skipped);
  if (message) result.message = message.slice(0, MAX_MESSAGE);
  return result;
}

/** Every <testcase> under node (nested <testsuites> included), iteratively: no recursion depth to exhaust. */
function collectCases(root, out, max) {
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push(node[i]);
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    for (const tc of node.testcase ?? []) {
      out.push(toCase(tc));
      if (out.length > max) return;
    }
    for (const [key, value] of Object.entries(node))
      if (key !== 'testcase' && typeof value === 'object') stack.push(value);
  }
}

const TAP_POINT = /^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$/i;

/** TAP: top-level test points (`ok 1 - name`, `not ok 2 name # SKIP why`), YAML diagnostics as the message, `Bail out!` as an error. */
function parseTap(source, file, out, max) {
  const classname = path.basename(file).replace(/\.tap$/i, '');
  let last;
  let yaml;
  for (const line of source.split('\n')) {
    if (yaml !== undefined) {
      if (/^\s+\.\.\.\s*$/.test(line)) {
        if (last && yaml.length > 0) last.message = yaml.join('\n').slice(0, MAX_MESSAGE);
        yaml = undefined;
      } else if (yaml.join('\n').length < MAX_MESSAGE) yaml.push(line.trim());
      continue;
    }
    if (/^\s+---\s*$/.test(line) && last) {
      yaml = [];
      continue;
    }
    const bail = /^Bail out!\s*(.*)$/.exec(line);
    if (bail) {
      out.push({
        name: 'Bail out!',
        classname,
        status: 'error',
        ...(bail[1] ? { message: bail[1].slice(0, MAX_MESSAGE) } : {}),
      });
      break;
    }
    const m = TAP_POINT.exec(line);
    if (!m) continue;
    const [, verdict, number, rest = ''] = m;
    const hash = rest.search(/(^|\s)#\s*(SKIP|TODO)\b/i);
    const description = (hash === -1 ? rest : rest.slice(0, hash)).trim();
    const directive = hash === -1 ? undefined : /#\s*(SKIP|TODO)\b\s*(.*)$/i.exec(rest);
    const ok = verdict.toLowerCase() === 'ok';
    // A TODO test point is expected to fail: it is not a failure.
    const status = directive ? 'skipped' : ok ? 'passed' : 'failed';
    last = { name: (description || `test ${number ?? out.length + 1}`).slice(0, 500), classname, status };
    if (directive)
      last.message = `${directive[1].toUpperCase()}${directive[2] ? ` ${directive[2]}` : ''}`.slice(0, MAX_MESSAGE);
    out.push(last);
    if (out.length > max) return;
  }
}

function readAll({ files, uid, maxBytes, maxTestcases }) {
  const cases = [];
  let bytes = 0;
  for (const file of files) {
    let fd;
    try {
      fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch {
      continue;
    }
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile() || (uid !== undefined && stat.uid !== uid)) continue;
      const head = Buffer.alloc(Math.min(SNIFF_BYTES, stat.size));
      const got = fs.readSync(fd, head, 0, head.length, 0);
      const tap = /\.tap$/i.test(file);
      if (!tap && !/<testsuite|<testcase/.test(head.toString('utf8', 0, got))) continue;
      bytes += stat.size;
      if (bytes > maxBytes) return { tooLarge: { what: 'bytes', bytes, file } };
      const buffer = Buffer.alloc(stat.size);
      let read = 0;
      while (read < buffer.length) {
        const n = fs.readSync(fd, buffer, read, buffer.length - read, read);
        if (n === 0) break;
        read += n;
      }
      const source = buffer.toString('utf8', 0, read);
      try {
        if (tap) parseTap(source, file, cases, maxTestcases);
        else collectCases(parser.parse(source), cases, maxTestcases);
      } catch {
        // not JUnit (or half written): ignored; it is still uploaded as an artifact
      }
      if (cases.length > maxTestcases) return { tooLarge: { what: 'testcases', count: cases.length, file } };
    } finally {
      fs.closeSync(fd);
    }
  }
  return { cases };
}

parentPort.on('message', (request) => {
  try {
    parentPort.postMessage({ id: request.id, ...readAll(request) });
  } catch (err) {
    parentPort.postMessage({ id: request.id, error: String((err && err.message) || err) });
  }
});
