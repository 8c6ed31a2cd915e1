/**
 * Replays the recorded histories of real runs (test/replay/histories, recorded from the
 * integration tests by scripts/record-histories.mjs) against this run's workflow bundle.
 * A change that makes a workflow issue other commands than its recorded runs did would
 * break workflows running in a lab when the control worker is upgraded: it fails here
 * with the DeterminismViolationError, unless gated with `patched()`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { temporal as proto } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const HISTORIES = path.join(import.meta.dirname, 'histories');

// The replay worker's own comings and goings are not news; its errors are.
Runtime.install({ logger: new DefaultLogger('WARN') });

/**
 * Every workflow type the control worker runs: each must have recorded histories
 * (retentionWorkflow's come from lab-on-postgres.test.ts, which runs its schedule once).
 */
const WORKFLOW_TYPES = [
  'submissionWorkflow',
  'recipeSetWorkflow',
  'chainWorkflow',
  'schedulerWorkflow',
  'batchRunWorkflow',
  'reconcileWorkflow',
  'retentionWorkflow',
  'webhookDeliveryWorkflow',
  'loanWorkflow',
  'powerHostWorkflow',
];

/** A recording is `<lab>--<workflow id, URI-encoded>--<run id's start>.json`: replay runs under the recorded id. */
const workflowIdOf = (file: string) => {
  const name = path.basename(file, '.json');
  return decodeURIComponent(name.slice(name.indexOf('--') + 2, name.lastIndexOf('--')));
};

async function recorded(): Promise<{ type: string; file: string }[]> {
  const out: { type: string; file: string }[] = [];
  for (const type of await fs.readdir(HISTORIES)) {
    for (const file of await fs.readdir(path.join(HISTORIES, type)))
      if (file.endsWith('.json')) out.push({ type, file: path.join(HISTORIES, type, file) });
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

describe('recorded workflow histories', () => {
  it('cover every workflow type', async () => {
    const types = new Set((await recorded()).map((h) => h.type));
    expect([...types].sort()).toEqual([...WORKFLOW_TYPES].sort());
  });

  it('replay against the current workflow code without a nondeterminism error', { timeout: 300_000 }, async () => {
    const histories = await recorded();
    const failures: string[] = [];
    let replayed = 0;
    const iterable = (async function* () {
      for (const h of histories) {
        const history = proto.api.history.v1.History.fromObject(
          JSON.parse(await fs.readFile(h.file, 'utf8')) as Record<string, unknown>,
        );
        yield { workflowId: workflowIdOf(h.file), history };
      }
    })();
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: 'testbay-replay' },
      iterable,
    )) {
      replayed++;
      if (result.error)
        failures.push(
          `${path.relative(HISTORIES, histories[replayed - 1]!.file)}: ${result.error.name}: ${result.error.message}`,
        );
    }
    expect(replayed).toBe(histories.length);
    expect(failures).toEqual([]);
  });
});
