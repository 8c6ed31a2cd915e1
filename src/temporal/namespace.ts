/**
 * @module Prepares a namespace for Testbay: creates it when missing (embedded lab and
 * tests) and registers the search attributes the workflows set, then waits until they
 * are visible. Idempotent; `testbay setup` runs it against a production cluster.
 */
import type { Connection } from '@temporalio/client';
import type Long from 'long';
import { SearchAttributeType } from '@temporalio/common';
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

const IndexedValueType = proto.temporal.api.enums.v1.IndexedValueType;
const indexed: Record<string, number> = {
  [SearchAttributeType.KEYWORD]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.KEYWORD_LIST]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
  [SearchAttributeType.TEXT]: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  [SearchAttributeType.INT]: IndexedValueType.INDEXED_VALUE_TYPE_INT,
};

export interface NamespaceOptions {
  /** how long closed workflows stay visible (the dev server's default is 24 h) */
  retentionHours?: number;
  /** create the namespace when it does not exist */
  create?: boolean;
  /** how long to wait for the namespace and its search attributes to be visible (default 120 s) */
  visibleWithinMs?: number;
}

export async function ensureNamespace(
  connection: Connection,
  namespace: string,
  options: NamespaceOptions = {},
): Promise<void> {
  // protobufjs takes a number where its types say Long
  const retentionSeconds = (options.retentionHours ?? 720) * 3600;
  const retention = { seconds: retentionSeconds as unknown as Long };
  const exists = await connection.workflowService.describeNamespace({ namespace }).then(
    () => true,
    (err: { code?: number }) => {
      if (err.code === 5 /* NOT_FOUND */) return false;
      throw err;
    },
  );
  if (!exists) {
    if (!options.create)
      throw new Error(`Temporal namespace "${namespace}" does not exist; create it or set TEMPORAL_NAMESPACE`);
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: retention });
  } else if (options.retentionHours !== undefined) {
    const current = await connection.workflowService.describeNamespace({ namespace });
    const currentSeconds = Number(current.config?.workflowExecutionRetentionTtl?.seconds ?? 0);
    if (currentSeconds < retentionSeconds) {
      await connection.workflowService.updateNamespace({
        namespace,
        config: { workflowExecutionRetentionTtl: retention },
      });
    }
  }
  // A new namespace takes a moment to reach every service of the cluster.
  const listed = await retryNotFound(() => connection.operatorService.listSearchAttributes({ namespace }));
  const have = new Set(Object.keys(listed.customAttributes ?? {}));
  const missing = Object.fromEntries(
    SEARCH_ATTRIBUTES.filter((k) => !have.has(k.name)).map((k) => [k.name, indexed[k.type]!]),
  );
  if (Object.keys(missing).length > 0) {
    await retryNotFound(() => connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing }));
  }
  await untilVisible(connection, namespace, options.visibleWithinMs ?? 120_000);
}

/**
 * A real Temporal server caches a namespace's search attributes (60 s by default) and a
 * new namespace takes seconds to reach every service: until the namespace describes and
 * a visibility query over every attribute is accepted, a workflow that sets them would be
 * refused. Waits for that, so what follows setup can start workflows at once.
 */
async function untilVisible(connection: Connection, namespace: string, timeoutMs: number): Promise<void> {
  const query = SEARCH_ATTRIBUTES.map((k) => `${k.name} = 'testbay-setup'`).join(' AND ');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await connection.workflowService.describeNamespace({ namespace });
      const listed = await connection.operatorService.listSearchAttributes({ namespace });
      const missing = SEARCH_ATTRIBUTES.filter((k) => !(k.name in (listed.customAttributes ?? {})));
      if (missing.length > 0)
        throw new Error(`search attributes not listed yet: ${missing.map((k) => k.name).join(', ')}`);
      await connection.workflowService.countWorkflowExecutions({ namespace, query });
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(
          `Temporal namespace "${namespace}" or its search attributes are not visible after ${Math.round(timeoutMs / 1000)} s: ${(err as Error).message}`,
          { cause: err },
        );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function retryNotFound<T>(fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: number }).code !== 5 /* NOT_FOUND */ || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
