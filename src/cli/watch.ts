/**
 * @module `submit --watch`: live progress per job until the submission ends. On a terminal
 * the job table is redrawn in place (state, host, current module, percentage, waiting
 * reason); elsewhere (CI logs) one line is printed per change. A host reserved after a job
 * keeps the submission open: the watch says so, with how to release it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiUnreachable, type TestbayClient } from '../api/client.js';
import type { SubmissionView } from '../domain/views.js';
import { batchRunLines, describeJob, jobsTable, reservationLine, submissionHeader } from './render.js';

export async function watchSubmission(
  client: TestbayClient,
  id: string,
  options: { json: boolean; intervalMs?: number },
): Promise<SubmissionView> {
  const tty = process.stdout.isTTY === true && !options.json;
  const seen = new Map<string, string>();
  /** jobs whose host is reserved after them, and the line that says so */
  const kept = new Map<string, string>();
  let drawn = 0;
  let failures = 0;
  for (;;) {
    let view: SubmissionView;
    try {
      view = await client.submission(id);
      failures = 0;
    } catch (err) {
      if (!(err instanceof ApiUnreachable) || ++failures > 60) throw err;
      process.stderr.write(`testbay: ${err.message}; retrying\n`);
      await sleep(1_000);
      continue;
    }
    if (tty) {
      const lines = [
        submissionHeader(view, true),
        ...(view.jobs.length > 0 ? jobsTable(view, true, process.stdout.columns ?? 160) : []),
        ...batchRunLines(view, true),
        ...(view.state === 'done' ? [] : kept.values()),
      ];
      if (drawn > 0) process.stdout.write(`\x1b[${drawn}F\x1b[J`);
      process.stdout.write(`${lines.join('\n')}\n`);
      drawn = lines.length;
    } else if (!options.json) {
      for (const [i, line] of batchRunLines(view, false)
        .filter((l) => l.startsWith('batch run'))
        .entries()) {
        if (seen.get(`batch ${i}`) !== line) {
          seen.set(`batch ${i}`, line);
          process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
        }
      }
      for (const j of view.jobs) {
        const line = `${j.name} [${j.id}] ${j.result ? j.result.kind : j.state}${j.hostId ? ` on ${j.hostId}` : ''}${describeJob(j) ? `: ${describeJob(j)}` : ''}`;
        if (seen.get(j.id) !== line) {
          seen.set(j.id, line);
          process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
        }
      }
    }
    // Every job has ended but the submission has not: a host kept for a person holds it open. Say so, once per job
    // (one look at the hosts per poll, whatever the number of jobs).
    if (view.state !== 'done' && view.jobs.length > 0 && view.jobs.every((j) => j.result)) {
      for (const host of (await client.hosts().catch(() => undefined))?.hosts ?? []) {
        const reservation = host.lease?.reservation;
        const j = reservation?.submissionId === id ? view.jobs.find((x) => x.id === reservation.jobId) : undefined;
        if (!reservation || !j || kept.has(j.id)) continue;
        const line = `${j.name} [${j.id}] keeps ${host.id} reserved ${reservationLine(reservation)}: the submission ends when it is released (testbay release ${j.id})`;
        kept.set(j.id, line);
        if (!tty && !options.json) process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
      }
    }
    if (view.state === 'done') {
      if (options.json) process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      else if (!tty)
        process.stdout.write(`${[...batchRunLines(view, false), submissionHeader(view, false)].join('\n')}\n`);
      return view;
    }
    await sleep(options.intervalMs ?? 500);
  }
}
