/**
 * @module Connections to Temporal from config: a client connection (API, CLI, hosts
 * registering) and a native connection (workers), with TLS or an API key for a
 * production cluster or Temporal Cloud.
 *
 * A client connection is closed with `closeConnection`, which drains it first. The
 * client retries a failed call on a timer (UNAVAILABLE and the like); a timer that fires
 * after `Connection.close()` throws "Channel has been shut down" from nowhere and takes
 * the process down. So closing stops new retries, waits for the calls in flight (a retry
 * waits at most 5 s), then closes.
 */
import fs from 'node:fs/promises';
import { InterceptingCall, ListenerBuilder, RequesterBuilder, type Interceptor } from '@grpc/grpc-js';
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  type ConnectionLike,
  type ConnectionOptions,
} from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config.js';

type TemporalConfig = Config['temporal'];

async function tlsOptions(t: TemporalConfig): Promise<ConnectionOptions['tls']> {
  if (!t.tls) return undefined;
  const [cert, key, ca] = await Promise.all([
    t.tls.cert ? fs.readFile(t.tls.cert) : undefined,
    t.tls.key ? fs.readFile(t.tls.key) : undefined,
    t.tls.ca ? fs.readFile(t.tls.ca) : undefined,
  ]);
  return {
    ...(cert && key ? { clientCertPair: { crt: cert, key } } : {}),
    ...(ca ? { serverRootCACertificate: ca } : {}),
    ...(t.tls.serverName ? { serverNameOverride: t.tls.serverName } : {}),
  };
}

export async function connectClient(t: TemporalConfig): Promise<Client> {
  return new Client({ connection: await connectTemporal(t), namespace: t.namespace });
}

export async function connectTemporal(t: TemporalConfig): Promise<Connection> {
  const tls = await tlsOptions(t);
  return connectDraining({
    address: t.address,
    ...(tls ? { tls } : {}),
    ...(t.apiKey ? { apiKey: t.apiKey, tls: tls ?? true } : {}),
  });
}

interface Drain {
  closing: boolean;
  inFlight: number;
  idle?: () => void;
}
const drains = new WeakMap<ConnectionLike, Drain>();

/** `Connection.connect` (or `open`) with the client's usual retries, counted, so `closeConnection` can drain it. */
export async function connectDraining(
  options: Omit<ConnectionOptions, 'interceptors'>,
  open: (options: ConnectionOptions) => Connection | Promise<Connection> = (o) => Connection.connect(o),
): Promise<Connection> {
  const drain: Drain = { closing: false, inFlight: 0 };
  const retry = defaultGrpcRetryOptions();
  // Outermost: a call counts from its start until its last status, retries included.
  const count: Interceptor = (callOptions, nextCall) =>
    new InterceptingCall(
      nextCall(callOptions),
      new RequesterBuilder()
        .withStart((metadata, listener, next) => {
          drain.inFlight++;
          next(
            metadata,
            new ListenerBuilder()
              .withOnReceiveStatus((status, nextStatus) => {
                if (--drain.inFlight === 0) drain.idle?.();
                nextStatus(status);
              })
              .build(),
          );
        })
        .build(),
    );
  const retrying = makeGrpcRetryInterceptor({
    ...retry,
    retryableDecider: (attempt, status) => !drain.closing && retry.retryableDecider(attempt, status),
  });
  const connection = await open({ ...options, interceptors: [count, retrying] });
  drains.set(connection, drain);
  return connection;
}

/** Closes a connection once its calls in flight ended (at most `waitMs`); no call is retried meanwhile. */
export async function closeConnection(connection: ConnectionLike, waitMs = 7_000): Promise<void> {
  const drain = drains.get(connection);
  if (drain) {
    drain.closing = true;
    if (drain.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        drain.idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
  await connection.close();
}

export async function connectWorker(t: TemporalConfig): Promise<NativeConnection> {
  const tls = await tlsOptions(t);
  return NativeConnection.connect({
    address: t.address,
    ...(tls ? { tls } : {}),
    ...(t.apiKey ? { apiKey: t.apiKey, tls: tls ?? true } : {}),
  });
}
