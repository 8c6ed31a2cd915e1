/**
 * @module The normalized job and submission: what the spec schema produces once defaults
 * are applied. Every later stage (planner, workflows, API) reads these types.
 */
import type { Requirement } from './requirements.js';

export interface Asset {
  url: string;
  sha256: string;
  name?: string;
}

export interface TestCode {
  git: string;
  ref: string;
}

export interface Job {
  name: string;
  description?: string;
  runner: { command: string[] };
  settings: Record<string, string>;
  workerClass: string;
  hostRequires: Requirement[];
  timeoutMs: number;
  provisionTimeoutMs: number;
  queueTimeoutMs?: number;
  priority: number;
  maxRetries: number;
  assets: Asset[];
  tests?: TestCode;
  startAfter: string[];
  startDirectlyAfter?: string;
  parallelWith: string[];
}

export interface Submission {
  name?: string;
  jobs: Job[];
}
