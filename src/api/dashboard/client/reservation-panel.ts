/**
 * @module A reservation on the dashboard, the same on the job page and the hosts page: who
 * holds the host until when and why, how to connect (address, work dir, what the host's
 * reserve hook printed), and the Extend and Release buttons for its holder or an operator.
 */
import { connectLines, type Reservation } from '../../../domain/reservation.js';
import { api } from './api.js';
import { h } from './dom.js';
import { act, type Ctx } from './page.js';

/** What the extend button adds. */
const EXTEND_MS = 60 * 60_000;

export function reservationPanel(ctx: Ctx, r: Reservation, hostId: string): HTMLElement {
  const target = r.jobId ? `/jobs/${r.jobId}/reservation` : `/hosts/${hostId}/reservation`;
  const mine = ctx.session.canOperate || ctx.session.name === r.by;
  const extend = h(
    'button',
    { class: 'small', 'data-action': 'extend-reservation', title: 'keep the host an hour longer (within the cap)' },
    'Extend 1 h',
  );
  extend.addEventListener(
    'click',
    () =>
      void act(ctx, extend, `${hostId}: reservation extended by 1 h`, () =>
        api('POST', `${target}/extend`, { byMs: EXTEND_MS }),
      ),
  );
  const release = h(
    'button',
    {
      class: 'small danger',
      'data-action': 'release-reservation',
      title: "end the reservation now: the host runs its end command, prunes the job's dir and goes back to the pool",
    },
    'Release',
  );
  release.addEventListener(
    'click',
    () =>
      void act(ctx, release, `${hostId}: reservation released`, () =>
        api('POST', r.jobId ? `${target}/release` : `/hosts/${hostId}/release`, {}),
      ),
  );
  return h(
    'div',
    { class: 'reservation', 'data-reservation': r.kind },
    h(
      'div',
      null,
      h('b', null, 'reserved'),
      ` by ${r.by} until `,
      h(
        'time',
        { datetime: new Date(r.until).toISOString(), title: new Date(r.until).toISOString() },
        untilText(r.until),
      ),
      ` — ${r.why}`,
    ),
    h('pre', { class: 'connect' }, connectLines(r).join('\n')),
    mine ? h('span', { class: 'actions' }, extend, ' ', release) : null,
  );
}

/** "17:05 UTC (in 59 min)": a reservation's end is in the future, unlike the times elsewhere. */
function untilText(until: number): string {
  const left = Math.max(0, Math.round((until - Date.now()) / 60_000));
  const when = new Date(until).toISOString().slice(11, 16);
  return `${when} UTC (in ${left >= 120 ? `${Math.floor(left / 60)} h ${left % 60} min` : `${left} min`})`;
}

/** Borrow an idle host for an hour (`testbay reserve HOST --for 1h`). */
export function reserveButton(ctx: Ctx, hostId: string): HTMLButtonElement {
  const button = h(
    'button',
    {
      class: 'small',
      'data-action': 'reserve-host',
      title: 'borrow this host for an hour: it takes no jobs until released',
    },
    'Reserve 1 h',
  );
  button.addEventListener(
    'click',
    () =>
      void act(ctx, button, `${hostId}: reserved for 1 h`, () =>
        api('POST', `/hosts/${hostId}/reserve`, { forMs: EXTEND_MS, reason: 'from the dashboard' }),
      ),
  );
  return button;
}
