/**
 * Closing a client connection while a call waits to be retried. The Temporal client retries
 * an UNAVAILABLE call on a timer; a timer that fires after `Connection.close()` threw
 * "Channel has been shut down" as an uncaught exception (CI saw it at the end of a browser
 * test). `closeConnection` stops the retries and waits for the call, so nothing is left to
 * fire. A real gRPC channel against a port where nothing listens; no Temporal server needed.
 */
import net from 'node:net';
import { Connection } from '@temporalio/client';
import { afterEach, describe, expect, it } from 'vitest';
import { closeConnection, connectDraining } from '../../src/temporal/connection.js';

/** A loopback port that refuses connections (it was free a moment ago). */
async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);
afterEach(() => {
  process.off('uncaughtException', onUncaught);
});

describe('closeConnection', () => {
  it('ends a call that is being retried before the channel closes, and nothing throws afterwards', async () => {
    process.on('uncaughtException', onUncaught);
    const connection = await connectDraining({ address: `127.0.0.1:${await refusedPort()}` }, (o) =>
      Connection.lazy(o),
    );
    const events: string[] = [];
    const call = connection.workflowService.getSystemInfo({}).then(
      () => events.push('answered'),
      (err: { code?: number }) => events.push(`failed ${err.code}`),
    );
    // Long enough for the first attempt to fail and a retry to be on its timer.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(events).toEqual([]);
    await closeConnection(connection);
    events.push('closed');
    await call;
    // 14 is UNAVAILABLE: the call ended with its own error, before the close.
    expect(events).toEqual(['failed 14', 'closed']);
    // A retry timer left behind would fire within the client's first backoffs.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(uncaught.map(String)).toEqual([]);
  });

  it('closes an idle connection, and a call after that is refused, not retried', async () => {
    const connection = await connectDraining({ address: `127.0.0.1:${await refusedPort()}` }, (o) =>
      Connection.lazy(o),
    );
    await closeConnection(connection);
    await expect(connection.workflowService.getSystemInfo({})).rejects.toThrow(/shut down/);
  });
});
