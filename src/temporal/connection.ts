/**
 * @module Connections to Temporal from config: a client connection (API, CLI, hosts
 * registering) and a native connection (workers), with TLS or an API key for a
 * production cluster or Temporal Cloud.
 */
import fs from 'node:fs/promises';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
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
  return Connection.connect({
    address: t.address,
    ...(tls ? { tls } : {}),
    ...(t.apiKey ? { apiKey: t.apiKey, tls: tls ?? true } : {}),
  });
}

export async function connectWorker(t: TemporalConfig): Promise<NativeConnection> {
  const tls = (await tlsOptions(t));
  return NativeConnection.connect({
    address: t.address,
    ...(tls ? { tls } : {}),
    ...(t.apiKey ? { apiKey: t.apiKey, tls: tls ?? true } : {}),
  });
}
