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

export async function writeBenchmarksDoc(): Promise<string> {
  const rows: string[] = [];
  for (const bench of BENCHES) {
    let result: Result;
    try {
      result = JSON.parse(await fs.readFile(path.join(PROJECT_ROOT, 'bench', 'results', `${bench.name}.json`), 'utf8')) as Result;
    } catch {
      continue;
    }
    const h = bench.headline(result);
    const goal = h.goal ? `${h.met ? 'met' : '**not met**'}: ${h.goal}` : '';
    rows.push(`| \`${bench.name}\` | ${cell(bench.what)} | ${cell(h.figures)} | ${cell(goal)} | ${result.date?.slice(0, 10) ?? ''} |`);
  }
  const file = path.join(PROJECT_ROOT, 'docs', 'benchmarks.md');
  await fs.writeFile(file, `${INTRO}\n| benchmark | what it measures | latest figures | goal | run on |\n| --- | --- | --- | --- | --- |\n${rows.join('\n')}\n`);
  return file;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(`written ${await writeBenchmarksDoc()}`);
