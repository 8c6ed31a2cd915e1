/**
 * Writes docs/benchmarks.md: the latest figures of every benchmark, from
 * bench/results/*.json (each bench writes its own when it runs), with its goal and the
 * date of its run. `npm run bench` calls it at its end; `npm run bench:doc` alone
 * rewrites the page from the results there are.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../src/temporal/binary.js';
import { BENCHES, type Result } from './headlines.js';

const INTRO = `# Benchmarks

\`npm run bench\` runs every script in \`bench/\` on the embedded lab, writes \`bench/results/<name>.json\` and
rewrites this page from them (\`npm run bench:doc\` rewrites it alone). Each bench prints its figures with
ratios against a baseline run in the same process. These are the latest figures on the 2-core development
machine; run one alone with \`node bin/run-ts.js bench/<name>.ts\`.
`;

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The steps on a job's way from POST to its runner, by the milestones bench/dispatch records (its median job). */
const DISPATCH_STEPS: [milestone: string, step: string][] = [
  ['sub workflow_execution_started', 'the API validates, stores and starts the submission workflow'],
  ['sub start_child_workflow_execution_initiated', "the submission's first workflow task starts the recipe set"],
  [
    'rs signal_external_workflow_execution_initiated requestLease',
    "the recipe set's first workflow task asks the scheduler for a lease",
  ],
  ['rs workflow_execution_signaled leaseGranted', "the scheduler's workflow task grants it (signal there and back)"],
  ['rs start_child_workflow_execution_initiated', "the recipe set's next workflow task starts the chain"],
  [
    'chain activity_task_scheduled runTests',
    "the chain's first workflow task opens the job record (local activity) and queues runTests on the host",
  ],
  ['runner runner-start', 'the host picks runTests up, makes the job dirs and spawns the runner'],
];

/** Where bench/dispatch's median job spends its time, step by step, from its latest result. */
function dispatchBreakdown(r: Result): string {
  const at = (r.milestones ?? {}) as Record<string, number>;
  let before = 0;
  const rows = DISPATCH_STEPS.flatMap(([milestone, step]) => {
    const t = at[milestone];
    if (t === undefined) return [];
    const row = `| ${step} | ${Math.round(t - before)} | ${Math.round(t)} |`;
    before = t;
    return [row];
  });
  if (rows.length === 0) return '';
  const bare = ((r.bare as Result | undefined)?.toStartMs as Record<string, number> | undefined)?.p50;
  return `
## Where a job's time goes (\`dispatch\`)

A trivial job on an idle lab of one host, POST → its runner's first line, median ms per step over the run's jobs
(bare Temporal in the same run: workflow start → its activity starts in ${String(bare ?? '?')} ms). Each step is one
workflow task of the control worker (tens of ms each on the shared 2-core machine) plus Temporal handing the
result on (a few ms). The embedded dev server reads its one history shard's transfer queue up to 1,000 times
a second (\`history.transferProcessorMaxPollRPS\`; Temporal's default of 20 made each hand-over wait up to
50 ms); a self-hosted server with few history shards wants the same.

| step | ms | ms after POST |
| --- | --- | --- |
${rows.join('\n')}
`;
}

export async function writeBenchmarksDoc(): Promise<string> {
  const rows: string[] = [];
  for (const bench of BENCHES) {
    let result: Result;
    try {
      result = JSON.parse(
        await fs.readFile(path.join(PROJECT_ROOT, 'bench', 'results', `${bench.name}.json`), 'utf8'),
      ) as Result;
    } catch {
      continue;
    }
    const h = bench.headline(result);
    const goal = h.goal ? `${h.met ? 'met' : '**not met**'}: ${h.goal}` : '';
    rows.push(
      `| \`${bench.name}\` | ${cell(bench.what)} | ${cell(h.figures)} | ${cell(goal)} | ${result.date?.slice(0, 10) ?? ''} |`,
    );
  }
  const dispatch = await fs.readFile(path.join(PROJECT_ROOT, 'bench', 'results', 'dispatch.json'), 'utf8').then(
    (t) => dispatchBreakdown(JSON.parse(t) as Result),
    () => '',
  );
  const file = path.join(PROJECT_ROOT, 'docs', 'benchmarks.md');
  await fs.writeFile(
    file,
    `${INTRO}\n| benchmark | what it measures | latest figures | goal | run on |\n| --- | --- | --- | --- | --- |\n${rows.join('\n')}\n${dispatch}`,
  );
  return file;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(`written ${await writeBenchmarksDoc()}`);
