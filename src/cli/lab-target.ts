/**
 * @module Which Testbay the CLI talks to: TESTBAY_URL and TESTBAY_TOKEN, or else the
 * embedded lab found in the data dir (`testbay dev` writes its URL and tokens there).
 */
import fs from 'node:fs';
import { z } from 'zod';
import { TestbayClient } from '../api/client.js';
import { labFile, type Config } from '../config.js';

export const labInfo = z.object({
  url: z.string(),
  temporalUrl: z.string().optional(),
  tokens: z.object({ submit: z.string(), operate: z.string() }),
});
export type LabInfo = z.infer<typeof labInfo>;

export class UsageError extends Error {}

export function readLabInfo(dataDir: string): LabInfo | undefined {
  try {
    return labInfo.parse(JSON.parse(fs.readFileSync(labFile(dataDir), 'utf8')));
  } catch {
    return undefined;
  }
}

export function clientFor(config: Config, env: NodeJS.ProcessEnv = process.env): TestbayClient {
  const lab = readLabInfo(config.dataDir);
  const url = env.TESTBAY_URL ?? lab?.url;
  const token = config.tokens.client ?? lab?.tokens.operate;
  if (!url || !token) {
    throw new UsageError(
      `no Testbay to talk to: set TESTBAY_URL and TESTBAY_TOKEN, or start the embedded lab with \`npm start\` (looked for ${labFile(config.dataDir)})`,
    );
  }
  // TESTBAY_URL may list several API servers: the client fails over between them.
  return new TestbayClient(url, token, config.api.clientTimeouts);
}
