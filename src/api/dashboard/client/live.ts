/**
 * @module One EventSource per tab on `/api/v1/events`: pages subscribe to its hints and
 * re-read what they show. After a reconnect every page refreshes (hints may have been
 * missed). A dot in the header shows whether the stream is connected.
 */
import type { LiveEvent } from '../../routes/events.js';
import { eventStreamUrl } from './api.js';

export type { LiveEvent };
type Handler = (event: LiveEvent) => void;

const handlers = new Set<Handler>();
let source: EventSource | undefined;
let indicator: HTMLElement | undefined;

export function onLive(handler: Handler): () => void {
  handlers.add(handler);
  return () => handlers.delete(handler);
}

function dispatch(event: LiveEvent): void {
  for (const h of [...handlers]) h(event);
}

function show(state: 'live' | 'reconnecting'): void {
  if (!indicator) return;
  indicator.className = `live-dot ${state}`;
  indicator.title = state === 'live' ? 'live updates connected' : 'live updates reconnecting…';
  indicator.dataset.state = state;
}

export function connectLive(dot: HTMLElement): void {
  indicator = dot;
  source?.close();
  source = new EventSource(eventStreamUrl('/api/v1/events'));
  let wasDown = false;
  source.addEventListener('open', () => {
    show('live');
    if (wasDown) {
      dispatch({ type: 'lab' });
      dispatch({ type: 'submissions' });
    }
  });
  source.addEventListener('error', () => {
    wasDown = true;
    show('reconnecting');
  });
  for (const type of ['job', 'submission', 'submissions', 'lab'] as const) {
    source.addEventListener(type, (e) => dispatch(JSON.parse((e as MessageEvent<string>).data) as LiveEvent));
  }
}
