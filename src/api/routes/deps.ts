/**
 * @module What route modules get: the store, the Temporal gateway, tokens, config.
 */
import type { RunConfig } from '../../domain/job-run.js';
import type { Logger } from '../../logger.js';
import type { TokenRegistry } from '../auth.js';
import type { ResultStore } from '../store/result-store.js';
import type { TaskFailureReports } from '../task-failure-reports.js';
import type { TemporalGateway } from '../temporal-gateway.js';

export interface RouteDeps {
  store: ResultStore;
  gateway: TemporalGateway;
  tokens: TokenRegistry;
  runConfig: RunConfig;
  maxArtifactBytes: number;
  temporalWebUrl: string;
  namespace: string;
  /** control workers' failed workflow tasks, for the hosts page */
  taskFailures: TaskFailureReports;
  log: Logger;
}
