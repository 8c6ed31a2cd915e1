/**
 * Preloaded into the lab's processes by bench/throughput in profile mode (NODE_OPTIONS
 * --import; --cpu-prof is not allowed there, and a SIGKILLed process writes no profile):
 * - counts the HTTP requests this process serves (only the API serves any), by method
 *   and route, with the time spent answering them, into $BENCH_PROBE_DIR/requests-<pid>.json
 *   once a second;
 * - CPU-profiles its main thread and its worker threads between the moments the bench
 *   creates the files `start` and `stop` in $BENCH_PROBE_DIR, into
 *   <kind>-<pid>[-thread<n>].cpuprofile (kind: server, control, host).
 *
 * It is plain JavaScript for `node --import` (loaded before tsx is), kept here as text
 * that bench/throughput writes to its output dir.
 */
export const PROBE_SOURCE = String.raw`import diagnostics_channel from 'node:diagnostics_channel';
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';

const dir = process.env.BENCH_PROBE_DIR;
if (dir) {
  const counts = {};
  const started = new WeakMap();
  const route = (req) =>
    req.method +
    ' ' +
    (req.url ?? '')
      .replace(/\?.*$/, '')
      .replace(/\/artifacts\/.+$/, '/artifacts/:name')
      .replace(/[a-z0-9]{6,32}\.\d+(\.\d+)?/g, ':job')
      .replace(/\/submissions\/[a-z0-9]{6,32}/g, '/submissions/:id');
  diagnostics_channel.subscribe('http.server.request.start', ({ request }) => {
    const key = route(request);
    counts[key] = (counts[key] ?? 0) + 1;
    changed = true;
    started.set(request, performance.now());
  });
  diagnostics_channel.subscribe('http.server.response.finish', ({ request }) => {
    const t = started.get(request);
    if (t === undefined) return;
    const key = 'ms ' + route(request);
    counts[key] = Math.round(((counts[key] ?? 0) + performance.now() - t) * 10) / 10;
    changed = true;
  });
  const file = path.join(dir, 'requests-' + process.pid + '.json');
  let changed = false;
  let saving = false;
  const save = (sync) => {
    if (!changed || saving) return;
    changed = false;
    const text = JSON.stringify(counts);
    // whole or not at all: the bench may read it meanwhile; async, not to block the API
    if (sync) return fs.writeFileSync(file, text);
    saving = true;
    fs.promises
      .writeFile(file + '.tmp', text)
      .then(() => fs.promises.rename(file + '.tmp', file))
      .catch(() => undefined)
      .finally(() => (saving = false));
  };
  setInterval(save, 1000).unref();
  // Worker threads (the control worker runs its workflows in one) are profiled too, through
  // the main thread's inspector session (NodeWorker domain): a preload does not run in them.
  const kind = process.argv[2] ?? 'node';
  const session = new inspector.Session();
  const workers = new Map();
  let nextId = 1;
  const toWorker = (sessionId, method, params) =>
    new Promise((resolve) => {
      const id = nextId++;
      workers.get(sessionId).pending.set(id, resolve);
      session.post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id, method, params: params ?? {} }) });
    });
  session.on('NodeWorker.attachedToWorker', ({ params }) => {
    const w = { threadId: params.workerInfo.workerId, pending: new Map() };
    workers.set(params.sessionId, w);
    void toWorker(params.sessionId, 'Profiler.enable').then(() => toWorker(params.sessionId, 'Profiler.start'));
  });
  session.on('NodeWorker.receivedMessageFromWorker', ({ params }) => {
    const w = workers.get(params.sessionId);
    const message = JSON.parse(params.message);
    const resolve = w && message.id !== undefined ? w.pending.get(message.id) : undefined;
    if (resolve) {
      w.pending.delete(message.id);
      resolve(message.result);
    }
  });
  let state = 'idle';
  const poll = () => {
    if (state === 'idle' && fs.existsSync(path.join(dir, 'start'))) {
      state = 'profiling';
      session.connect();
      session.post('Profiler.enable', () => session.post('Profiler.start'));
      session.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
    } else if (state === 'profiling' && fs.existsSync(path.join(dir, 'stop'))) {
      state = 'done';
      const write = (name, profile) => fs.writeFileSync(path.join(dir, kind + '-' + process.pid + name + '.cpuprofile'), JSON.stringify(profile));
      for (const [sessionId, w] of workers) {
        void toWorker(sessionId, 'Profiler.stop').then((result) => result && write('-thread' + w.threadId, result.profile));
      }
      session.post('Profiler.stop', (err, result) => {
        if (!err) write('', result.profile);
      });
    }
  };
  setInterval(poll, 200).unref();
  process.on('exit', () => save(true));
}
`;
