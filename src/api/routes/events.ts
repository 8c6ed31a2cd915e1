/**
 * @module Live updates for the dashboard: `GET /events` is one Server-Sent Events stream
 * per browser tab carrying small hints (`job`, `submission`, `submissions`, `lab`); the
 * page re-reads the JSON it shows when a hint concerns it. Hints come from the result
 * store's change events (uploads, job ends, submission ends: pushed at once) and from one
 * shared poll of the scheduler and the submission index, which runs only while someone
 * listens. Pushing hints rather than polling from every tab keeps the cost of an open
 * dashboard at one Temporal query per second, whatever the number of tabs.
 */
import { Router, type Response } from 'express';
import type { Logger } from '../../logger.js';
import { authorize } from '../middleware.js';
import type { ResultStore, StoreEvent } from '../store/result-store.js';
import type { TemporalGateway } from '../temporal-gateway.js';
import type { RouteDeps } from './deps.js';

export type LiveEvent =
  | { type: 'job'; id: string; submissionId: string; state: string; result?: string }
  | { type: 'submission'; id: string }
  | { type: 'submissions' }
  | { type: 'lab' };

type Listener = (event: LiveEvent) => void;

/** Fans store changes and the shared poll out to every listener. */
export class LiveHub {
  private readonly listeners = new Set<Listener>();
  private stopStore: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private labPrint = '';
  private indexPrint = '';
  private polling = false;

  constructor(
    private readonly store: ResultStore,
    private readonly gateway: TemporalGateway,
    private readonly log: Logger,
    private readonly pollMs = 1000,
  ) {}

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  private emit(event: LiveEvent): void {
    for (const l of this.listeners) l(event);
  }

  private start(): void {
    this.stopStore = this.store.subscribe((c: StoreEvent) => {
      if (c.kind === 'job') {
        const e: LiveEvent = { type: 'job', id: c.job.id, submissionId: c.job.submissionId, state: c.job.state };
        if (c.job.result) e.result = c.job.result.kind;
        this.emit(e);
      } else if (c.kind === 'submission') {
        this.emit({ type: 'submission', id: c.id });
        this.emit({ type: 'submissions' });
      } else if (c.kind === 'resync') {
        this.emit({ type: 'submissions' });
        this.emit({ type: 'lab' });
      }
    });
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
    void this.poll();
  }

  private stop(): void {
    this.stopStore?.();
    this.stopStore = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One scheduler query and one index read; a hint goes out only when something changed. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const index = await this.store.listSubmissions({ limit: 100 });
      const indexPrint = JSON.stringify(index);
      if (indexPrint !== this.indexPrint) {
        if (this.indexPrint) this.emit({ type: 'submissions' });
        this.indexPrint = indexPrint;
      }
      const lab = await this.gateway.lab().catch((err: unknown) => {
        this.log.debug('live poll: no lab view', { error: String(err) });
        return undefined;
      });
      const labPrint = lab ? JSON.stringify({ hosts: lab.hosts, queue: lab.queue }) : 'unreachable';
      if (labPrint !== this.labPrint) {
        if (this.labPrint) this.emit({ type: 'lab' });
        this.labPrint = labPrint;
      }
    } catch (err) {
      this.log.warn('live poll failed', { error: String(err) });
    } finally {
      this.polling = false;
    }
  }
}

function send(res: Response, event: LiveEvent): void {
  res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
}

export function eventRoutes(deps: RouteDeps, hub = new LiveHub(deps.store, deps.gateway, deps.log)): Router {
  const r = Router();
  r.get('/events', authorize(deps.tokens, 'read', { queryToken: () => true }), deps.streams, (req, res) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Tell EventSource to reconnect after 2 s if the server goes away.
    res.write('retry: 2000\n: live\n\n');
    const unsubscribe = hub.subscribe((event) => send(res, event));
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
    });
  });
  return r;
}
