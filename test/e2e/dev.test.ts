/**
 * `testbay dev` (what `npm start` runs) as a new user meets it: it brings up the embedded
 * lab (its own Temporal dev server persisted under the data dir, the API, the control
 * worker, hosts local-1..3) and says it is up only once every host is registered, the CLI
 * finds it through the data dir, and SIGINT stops every process it started, a running
 * job's runner included; so does SIGTERM, even during start-up (and once it is up, at the
 * end of test/e2e/dev-supervision.test.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { devEnv as freshDevEnv } from '../helpers/dev-lab.js';
import { waitFor } from '../helpers/lab.js';
import { processesUsing } from '../helpers/processes.js';

const dirs: string[] = [];
async function devEnv(): Promise<{ dataDir: string; env: Record<string, string> }> {
  const fresh = await freshDevEnv();
  dirs.push(fresh.dataDir);
  return fresh;
}
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe('testbay dev', () => {
  it('brings up the whole lab, runs hello.yaml to passed, and SIGINT leaves nothing running', async () => {
    const { dataDir, env } = await devEnv();
    const dev = cli(['dev'], env, { timeoutMs: 140_000 });
    let output = '';
    dev.child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor('the lab to be up', () => output.includes('Testbay embedded lab is up'), 90_000);
    // Up means up: the scheduler already lists every host, online.
    const listed = JSON.parse((await cli(['hosts', '--json'], { TESTBAY_DATA_DIR: dataDir })).stdout) as {
      hosts: { id: string; online: boolean }[];
    };
    expect(listed.hosts.filter((h) => h.online).map((h) => h.id)).toEqual(['local-1', 'local-2', 'local-3']);
    expect(output).toMatch(new RegExp(`Temporal Web UI\\s+http://127\\.0\\.0\\.1:${env.TESTBAY_TEMPORAL_UI_PORT}`));
    expect(output).toMatch(/hosts\s+local-1, local-2, local-3/);
    const ui = await fetch(`http://127.0.0.1:${env.TESTBAY_TEMPORAL_UI_PORT}/`);
    expect(ui.status).toBe(200);
    await expect(fs.stat(path.join(dataDir, 'temporal.db'))).resolves.toBeTruthy();
    // What the lab keeps is its user's alone: the data dir, the Temporal db, tokens, keys, the result store.
    const mode = async (p: string) => ((await fs.stat(path.join(dataDir, p))).mode & 0o777).toString(8);
    // As root its runners run as testbay-runner, which must reach its job dirs below the data
    // dir: traversable then, never listable (0711); everything in it stays private.
    expect(await mode('.')).toBe(process.getuid?.() === 0 ? '711' : '700');
    for (const f of ['temporal.db', 'tokens.json', 'lab.json', 'payload.key'])
      expect(`${f} ${await mode(f)}`).toBe(`${f} 600`);
    expect(await mode('db')).toBe('700');
    expect(await mode('objects')).toBe('700');
    // The dashboard link is a one-time code, never the operator token itself.
    const operator = (
      JSON.parse(await fs.readFile(path.join(dataDir, 'lab.json'), 'utf8')) as { tokens: { operate: string } }
    ).tokens.operate;
    expect(output.includes(operator)).toBe(false);
    const link = /dashboard\s+(http:\S+\/api\/v1\/login\?code=\S+)/.exec(output)![1]!;
    const first = await fetch(link, { redirect: 'manual' });
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe(`/#token=${encodeURIComponent(operator)}`);
    expect((await fetch(link, { redirect: 'manual' })).status).toBe(401);

    // The CLI finds the lab by its data dir alone.
    const cliEnv = { TESTBAY_DATA_DIR: dataDir };
    const hello = await cli(['submit', 'examples/hello.yaml', '--watch'], cliEnv);
    expect(hello.code).toBe(0);
    expect(hello.stdout).toMatch(/PASSED/);
    const hosts = await cli(['hosts', '--json'], cliEnv);
    expect((JSON.parse(hosts.stdout) as { hosts: { id: string }[] }).hosts.map((h) => h.id)).toEqual([
      'local-1',
      'local-2',
      'local-3',
    ]);

    // A job is running when the developer presses Ctrl-C.
    const hang = await cli(['submit', 'examples/hang.yaml'], cliEnv);
    const id = hang.stdout.trim();
    await waitFor(
      'the hanging job to run',
      async () => {
        const status = await cli(['status', id, '--json'], cliEnv);
        return (
          (JSON.parse(status.stdout) as { jobs: { progress?: { module?: string } }[] }).jobs[0]?.progress?.module ===
          'install'
        );
      },
      30_000,
      500,
    );
    expect(processesUsing(dataDir).some((p) => p.includes('os-test'))).toBe(true);
    dev.child.kill('SIGINT');
    const ended = await dev;
    expect(ended.code).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);
  }, 150_000);

  it('SIGTERM during start-up stops what has started, and nothing is left running', async () => {
    const { dataDir, env } = await devEnv();
    const dev = cli(['dev'], env, { timeoutMs: 140_000 });
    let errors = '';
    dev.child.stderr?.on('data', (d: Buffer) => (errors += d.toString()));
    // The API and the other parts are starting: their first lines are on stderr.
    await waitFor(
      'the lab to be starting',
      () => /\[api\]/.test(errors) && processesUsing(dataDir).length >= 2,
      90_000,
      50,
    );
    expect(dev.child.exitCode).toBeNull();
    dev.child.kill('SIGTERM');
    const ended = await dev;
    expect(ended.stdout).not.toContain('Testbay embedded lab is up');
    expect(ended.stderr).toMatch(/SIGTERM: stopping the lab/);
    expect(ended.code).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);
  }, 150_000);
});
