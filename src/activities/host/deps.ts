/**
 * @module What host activities are built from: the host's identity and folders, the API
 * client (host token), timing settings, and the host's shutdown signal.
 */
import type { TestbayClient } from '../../api/client.js';
import type { Logger } from '../../logger.js';
import type { PayloadKey } from '../../sealing.js';
import type { HostHooks } from './host-hooks.js';
import type { ReserveHooks } from './reservation.js';
import type { RunnerUser } from './runner-user.js';

export interface HostDeps {
  hostId: string;
  /** this host's own folder: jobs/, cache/, runners/ */
  workDir: string;
  api: TestbayClient;
  /** folders put in front of PATH for runners (where the lab's runners are installed) */
  runnerPath: string[];
  /** who runners run as: another, unprivileged user, or the host's own */
  runnerUser: RunnerUser;
  killGraceMs: number;
  logFlushMs: number;
  /** a job's log is cut at this many bytes (with a marker line) */
  maxLogBytes: number;
  /** a job's JUnit and TAP files together; above it the job is aborted results-too-large */
  maxResultsBytes: number;
  /** per-test results of one job; above it the job is aborted results-too-large */
  maxTestcases: number;
  /** aborted when the host begins a graceful shutdown */
  shutdown: AbortSignal;
  /** how long a running job may go on after shutdown began */
  shutdownDeadlineMs: number;
  /** called when the scheduler stopped watching this host while it still runs */
  onPresenceLost: (instanceId: string) => void;
  /** called when the scheduler's presence activity of this registration started here */
  onPresenceStarted?: (instanceId: string) => void;
  /** opens the upload tokens and secrets that come sealed (sealing.ts); none in unit tests */
  payloadKey?: PayloadKey;
  /** the host config's `reserve` hooks, run when a reservation starts and ends */
  reserve?: ReserveHooks;
  log: Logger;
  /** the host config's provision, recover and power commands */
  hooks?: HostHooks;
  /** how long a hook may run (TESTBAY_HOOK_TIMEOUT_MS) */
  hookTimeoutMs?: number;
}
