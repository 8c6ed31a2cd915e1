/**
 * @module `testbay server`: opens the result store (migrating its schema), loads tokens,
 * connects to Temporal lazily (the API answers even while Temporal starts) and listens.
 */
import type { Server } from 'node:http';
import type { Client } from '@temporalio/client';
import { ConfigError, loginCodeFile, tokensFile, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { loadPayloadKey } from '../sealing.js';
import { closeConnection, connectClient } from '../temporal/connection.js';
import { createApp } from './app.js';
import { streamLimit, wantsFollow } from './middleware.js';
import { TokenRegistry } from './auth.js';
import { SubmissionRate } from './quotas.js';
import { openResultStore } from './store/open-store.js';
import type { ResultStore } from './store/result-store.js';
import { TaskFailureReports } from './task-failure-reports.js';
import { TemporalGateway } from './temporal-gateway.js';
import { Notifier } from './notify/notifier.js';
import { SqlNotifyStore } from './store/notify-store.js';

export interface RunningServer {
  server: Server;
  url: string;
  store: ResultStore;
  close(): Promise<void>;
}

export async function startServer(config: Config, log: Logger, port = config.api.port): Promise<RunningServer> {
  const payloadKey = loadPayloadKey({ file: config.payloadKeyFile });
  const tokens = await TokenRegistry.load(config.api.tokensJson, tokensFile(config.dataDir));
  const store = await openResultStore(config, log.child('store'));
  let client: Promise<Client> | undefined;
  const getClient = () => {
    client ??= connectClient(config.temporal).catch((err: unknown) => {
      client = undefined;
      throw err;
    });
    return client;
  };
  const gateway = new TemporalGateway(getClient, config.run, config.scheduler);
  const notify = new SqlNotifyStore(store.db);
  // Links in payloads use TESTBAY_URL; a server on an ephemeral port (tests) links to where it listens.
  let publicUrl = config.api.url;
  const notifier = new Notifier({
    notify,
    store,
    gateway,
    client: getClient,
    payloadKey,
    publicUrl: () => publicUrl,
    config: config.notify,
    log: log.child('notify'),
  });
  const app = createApp({
    store,
    retention: config.store.retention,
    gateway,
    tokens,
    runConfig: config.run,
    maxArtifactBytes: config.api.maxArtifactBytes,
    temporalWebUrl: config.temporal.webUrl,
    namespace: config.temporal.namespace,
    taskFailures: new TaskFailureReports(),
    submissionRate: new SubmissionRate(config.api.submissionsPerMinute),
    jobArtifactLimits: config.api.jobArtifactLimits,
    partnerWaitMs: config.api.partnerWaitMs,
    loginCodeFile: loginCodeFile(config.dataDir),
    streams: streamLimit(config.api.maxStreamsPerToken, (req) => req.path === '/events' || wantsFollow(req)),
    payloadKey,
    review: config.review,
    notify,
    notifier,
    log,
  });
  // Express 5 calls listen's callback with the error too (a port in use, say).
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, config.api.bind, (err?: Error) => (err ? reject(err) : resolve(s)));
  }).catch(async (err: unknown) => {
    await store.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new ConfigError(
        `TESTBAY_PORT=${port}: cannot listen on ${config.api.bind}:${port} (${(err as Error).message})`,
      );
    }
    throw err;
  });
  // A client that sends its headers slowly (or never) is cut off; so is a crowd.
  server.headersTimeout = config.api.headersTimeoutMs;
  server.maxConnections = config.api.maxConnections;
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const url = `http://${config.api.bind}:${actualPort}`;
  if (port === 0) publicUrl = url;
  log.info('API listening', { url });
  notifier.start();
  return {
    server,
    url,
    store,
    close: async () => {
      notifier.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      if (client) {
        const connected = await client.catch(() => undefined);
        if (connected) await closeConnection(connected.connection);
      }
    },
  };
}
