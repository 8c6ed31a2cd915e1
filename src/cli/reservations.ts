/**
 * @module The CLI's reservation commands: `extend` of a reservation, `release JOB_ID|HOST`,
 * `reserve HOST --for 2h [--reason TEXT]`, and `priority JOB_ID N` for a queued job.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { HOST_ID_PATTERN, JOB_ID_PATTERN } from '../domain/ids.js';
import { connectLines, type Reservation } from '../domain/reservation.js';
import { clientFor, UsageError } from './lab-target.js';
import { parseDurationMs } from './partners.js';
import { reservationLine } from './render.js';

type Command = (args: string[]) => Promise<number>;

export const RESERVATION_USAGE = `
Reservations (a host kept for a person after a job's \`reserve\`, or lent by hand)
  reserve HOST --for 2h [--reason TEXT] [--json]
                                   borrow a host: a submit token an idle one (up to TESTBAY_MAX_LOAN_MS),
                                   an operate token any host without a lease (up to TESTBAY_MAX_RESERVE_MS)
  extend JOB_ID|HOST --by 2h [--json]
                                   keep a reserved host longer (within the cap; for a running job:
                                   more time for it, above)
  release JOB_ID|HOST [--json]     end a reservation now: the host's end command runs, the job's dir
                                   is pruned, the host goes back to the pool
  priority JOB_ID N [--json]       a queued job's new priority (lower runs first): its submitter may
                                   lower it (a larger N), raising it needs an operate token`;

const json = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

/** A job id or a host id, as the commands take either. */
export function targetOf(text: string | undefined, usage: string): { jobId: string } | { hostId: string } {
  if (text === undefined) throw new UsageError(usage);
  if (JOB_ID_PATTERN.test(text)) return { jobId: text };
  if (HOST_ID_PATTERN.test(text)) return { hostId: text };
  throw new UsageError(`${text}: neither a job id (<submission>.<n>) nor a host id`);
}

function show(verb: string, r: Reservation): void {
  process.stdout.write(
    `${[`${verb} host ${r.hostId} is reserved ${reservationLine(r)}`, ...connectLines(r).map((l) => `  ${l}`)].join('\n')}\n`,
  );
}

/**
 * `testbay extend JOB_ID|HOST --by 2h` for a reservation (the one extend command, in
 * commands.ts, comes here for a host, or for a job whose host is reserved after it).
 */
export async function extendReservationCommand(
  target: { jobId: string } | { hostId: string },
  byMs: number,
  asJson: boolean,
): Promise<number> {
  const r = await clientFor(loadConfig()).extendReservation(target, byMs);
  if (asJson) json(r);
  else show('extended:', r);
  return 0;
}

const release: Command = async (args) => {
  const usage = 'usage: testbay release JOB_ID|HOST [--json]';
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length > 1) throw new UsageError(usage);
  const r = await clientFor(loadConfig()).releaseReservation(targetOf(positionals[0], usage));
  if (values.json) json(r);
  else process.stdout.write(`released: host ${r.hostId} goes back to the pool once its end command ran\n`);
  return 0;
};

const reserve: Command = async (args) => {
  const usage = 'usage: testbay reserve HOST --for 2h [--reason TEXT] [--json]';
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { for: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean' } },
  });
  const hostId = positionals[0];
  if (!hostId || positionals.length > 1 || values.for === undefined) throw new UsageError(usage);
  if (!HOST_ID_PATTERN.test(hostId)) throw new UsageError(`${hostId}: not a host id`);
  const r = await clientFor(loadConfig()).reserveHost(hostId, parseDurationMs(values.for, '--for'), values.reason);
  if (values.json) json(r);
  else show('reserved:', r);
  return 0;
};

const priority: Command = async (args) => {
  const usage = 'usage: testbay priority JOB_ID N [--json]   (N 0-1000; lower runs first)';
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const [jobId, n] = positionals;
  if (!jobId || !JOB_ID_PATTERN.test(jobId) || n === undefined || !/^\d+$/.test(n) || positionals.length > 2)
    throw new UsageError(usage);
  const changed = await clientFor(loadConfig()).setPriority(jobId, Number(n));
  if (values.json) json(changed);
  else process.stdout.write(`${changed.id}: priority ${changed.previous} → ${changed.priority}\n`);
  return 0;
};

export const reservationCommands: Record<string, Command> = { release, reserve, priority };
