/**
 * @module What route modules get: the store, the Temporal gateway, tokens, config.
 */
import type { RunConfig } from '../../domain/job-run.js';
import type { RequestHandler } from 'express';
import type { Logger } from '../../logger.js';
import type { PayloadKey } from '../../sealing.js';
import type { TokenRegistry } from '../auth.js';
import type { SubmissionRate } from '../quotas.js';
import type { ResultStore, RetentionPolicy } from '../store/result-store.js';
import type { TaskFailureReports } from '../task-failure-reports.js';
import type { TemporalGateway } from '../temporal-gateway.js';
import type { Notifier } from '../notify/notifier.js';
import type { NotifyStore } from '../store/notify-store.js';

export interface RouteDeps {
  store: ResultStore;
  /** what POST /internal/retention deletes (the daily `testbay-retention` schedule calls it) */
  retention: RetentionPolicy;
  gateway: TemporalGateway;
  tokens: TokenRegistry;
  runConfig: RunConfig;
  maxArtifactBytes: number;
  temporalWebUrl: string;
  namespace: string;
  /** control workers' failed workflow tasks, for the hosts page */
  taskFailures: TaskFailureReports;
  /** where `testbay dev` leaves its one-time login code (the embedded lab) */
  loginCodeFile?: string;
  /** what one job may keep of artifacts, in number and in bytes */
  jobArtifactLimits: { count: number; bytes: number };
  /** the long-poll window of barrier and receive calls (TESTBAY_PARTNER_WAIT_MS) */
  partnerWaitMs: number;
  /** submissions per minute per token */
  submissionRate: SubmissionRate;
  /** caps the live streams (SSE) one token may hold open; applies to event streams and followed logs */
  streams: RequestHandler;
  /** seals secrets and upload tokens (sealing.ts) */
  payloadKey: PayloadKey;
  /** review of results (config.review); off and empty when absent */
  review?: { bugRefs: Record<string, string>; carryOver: boolean; publicBadges: boolean };
  /** webhooks, deliveries and the audit log (same database as the store) */
  notify: NotifyStore;
  /** where events leave Testbay (webhooks, commit statuses) */
  notifier: Notifier;
  log: Logger;
}
