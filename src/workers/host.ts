/**
 * @module `testbay host`: one lab machine. It checks its own setup, stops runners a
 * previous run of it left behind, polls its own task queue `host/<id>` for the
 * activities of the jobs leased to it, and registers with the scheduler (worker classes,
 * capabilities, hostname, address). SIGTERM lets the running job finish (or, after a
 * deadline, stops it with "host shutting down") and then exits; no lease leaks.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { TestbayClient } from '../api/client.js';
import type { Config } from '../config.js';
import { createHostActivities } from '../activities/host/index.js';
import { dropStaleAssetLinks } from '../activities/host/asset-cache.js';
import { reapStaleRunners } from '../activities/host/reaper.js';
import { createHostSteps } from '../activities/host/steps.js';
import { installCliShim } from '../activities/host/cli-shim.js';
import { checkSetup } from '../activities/host/setup-check.js';
import { AssetAllowList, DEFAULT_ASSET_ALLOW } from '../activities/host/asset-allow.js';
import {
  prepareWorkDir,
  resolveRunnerUser,
  runnerCannotSearch,
  runnerCannotWrite,
} from '../activities/host/runner-user.js';
import { CONTROL_TASK_QUEUE, DEFAULT_POOL, hostTaskQueue, schedulerWorkflowId } from '../domain/ids.js';
import type { HostRegistration } from '../domain/lab.js';
import type { HostHooks } from '../activities/host/host-hooks.js';
import type { Capabilities } from '../domain/requirements.js';
import type { Logger } from '../logger.js';
import type { schedulerWorkflow } from '../workflows/scheduler.js';
import { PresenceWatch } from '../activities/host/presence-watch.js';
import { registerHostSignal } from '../workflows/scheduler-messages.js';
import type { PayloadKey } from '../sealing.js';

/**
 * Long polls each host keeps open on its task queue. The SDK's default (10 here) times
 * 2,000 hosts is 20,000 polls, far past what a Temporal frontend allows a namespace
 * (`frontend.namespaceCount`, 1,200 by default; bench/scale). A host's activities come a
 * few at a time, so two pollers keep pickup prompt.
 */
export const HOST_ACTIVITY_POLLERS = 2;

export interface HostOptions {
  hostId: string;
  workerClasses: string[];
  /** the pool whose scheduler the host registers with (--pool, the config's `pool`); absent = `default` */
  pool?: string | undefined;
  /** from --cap key=value; override detected ones */
  capabilities: Capabilities;
  workDir: string;
  /** content-addressed assets and git mirrors; may be shared by the hosts of one machine */
  cacheDir: string;
  runnerPath: string[];
  /** commands the runners need on their PATH (--require-command), checked at start */
  requireCommands: string[];
  hostToken: string;
  /** opens the upload tokens and secrets the workflows hand over sealed */
  payloadKey: PayloadKey;
  /** where partners reach this host (--address, the config's `address`); default its first non-loopback IPv4 */
  address?: string;
  /** the user runners run as (a name or uid); undefined: the host's own */
  runnerUser?: string | undefined;
  /** the host config's `assets`: over TESTBAY_ASSETS_ALLOW, TESTBAY_MAX_ASSET_BYTES, TESTBAY_MAX_JOB_ASSET_BYTES */
  assets?:
    { allow?: string[] | undefined; maxBytes?: number | undefined; maxJobBytes?: number | undefined } | undefined;
  /** the host config's provisionCommand, recoverCommand and powerCommand */
  hooks?: HostHooks;
  /** the host config's `reserve` hooks */
  reserve?: { startCommand?: string[] | undefined; endCommand?: string[] | undefined; timeoutMs?: number | undefined };
}

export interface RunningHost {
  worker: Worker;
  registration: HostRegistration;
  /** graceful: stop taking work, let the running job finish or stop it after the deadline */
  shutdown(): Promise<void>;
  /** resolves when the worker has stopped */
  done: Promise<void>;
}

/** What every host knows about itself; --cap values take precedence. */
export function detectCapabilities(): Capabilities {
  return {
    arch: os.arch() === 'x64' ? 'x86_64' : os.arch() === 'arm64' ? 'aarch64' : os.arch(),
    os: os.platform(),
    cpus: String(os.cpus().length),
    memory_gb: String(Math.floor(os.totalmem() / 1024 ** 3)),
    hostname: os.hostname(),
  };
}

export function primaryAddress(): string {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export async function startHost(
  config: Config,
  log: Logger,
  options: HostOptions,
  temporal: { connection: NativeConnection; client: Client },
): Promise<RunningHost> {
  const { hostId } = options;
  // What the host writes is its own unless it says otherwise (the runner's dirs, assets).
  process.umask(0o077);
  const runnerUser = await resolveRunnerUser(options.runnerUser);
  if (!runnerUser.separate && runnerUser.uid === 0)
    log.warn(
      "runners run as root: set runnerUser (--runner-user, TESTBAY_RUNNER_USER) to an unprivileged user so they cannot read this host's token",
    );
  const problems = await checkSetup({ ...options, minFreeBytes: config.host.minFreeBytes });
  // A work dir the setup check found unusable stays as it is: the host registers broken, saying why.
  await prepareWorkDir(options.workDir, runnerUser).catch((err: unknown) =>
    log.warn("could not set the work dir's modes", { error: String(err) }),
  );
  // Cached assets and git mirrors (private repositories' too) are the host's alone.
  await fs.chmod(options.cacheDir, 0o700).catch(() => undefined);
  const unreachable = await runnerCannotWrite(path.join(options.workDir, 'jobs'), runnerUser).catch(() => undefined);
  if (unreachable) problems.push(unreachable);
  problems.push(...(await runnerCannotSearch(options.runnerPath, runnerUser)));
  const setupProblem = problems.length > 0 ? problems.join('; ') : undefined;
  if (setupProblem) log.error('broken setup; registering as broken', { problem: setupProblem });
  const reaped = await reapStaleRunners(options.workDir, config.host.killGraceMs);
  if (reaped.length > 0) log.warn('stopped runners left by a previous run of this host', { jobs: reaped });
  // No job runs yet: asset links left in old job dirs only keep cached assets from eviction.
  await dropStaleAssetLinks(options.workDir);
  const assetLimits = {
    allow: new AssetAllowList(options.assets?.allow ?? config.host.assets.allow ?? DEFAULT_ASSET_ALLOW),
    maxBytes: options.assets?.maxBytes ?? config.host.assets.maxBytes,
    maxJobBytes: options.assets?.maxJobBytes ?? config.host.assets.maxJobBytes,
    minFreeBytes: config.host.minFreeBytes,
  };
  const steps = createHostSteps({
    cacheDir: options.cacheDir,
    assetCacheMaxBytes: config.host.assetCacheMaxBytes,
    assetLimits,
    gitTimeoutMs: config.host.gitTimeoutMs,
    separateRunnerUser: runnerUser.separate,
    log,
  });

  const shutdown = new AbortController();
  // Every activity in flight (runs queued behind the running one, uploads) listens to it.
  setMaxListeners(64, shutdown.signal);
  const registration: HostRegistration = {
    hostId,
    instanceId: randomUUID(),
    workerClasses: options.workerClasses,
    capabilities: { ...detectCapabilities(), ...options.capabilities },
    hostname: os.hostname(),
    address: options.address ?? primaryAddress(),
    ...(setupProblem ? { setupProblem } : {}),
    ...(options.hooks?.powerCommand ? { canPower: true } : {}),
  };
  /**
   * Registers with the scheduler. Registering again (the presence was lost: the scheduler
   * continued as new, timed the presence out, or this host gave it up unable to reach
   * Temporal) takes a fresh instance id: the old presence's timeout, which the scheduler may
   * see only after this registration, then names an instance it no longer has and cannot
   * take the host offline behind the new registration's back. The scheduler ends the older
   * instance's presence when the new one registers.
   */
  const pool = options.pool ?? DEFAULT_POOL;
  // A presence the scheduler started but this host never picked up ended without telling it.
  const presence = new PresenceWatch(2 * config.scheduler.presencePickupMs, (instanceId) => {
    if (instanceId !== registration.instanceId || shutdown.signal.aborted) return;
    log.warn("the scheduler's presence activity did not reach this host; registering again", {
      waitedMs: 2 * config.scheduler.presencePickupMs,
    });
    void register(true);
  });
  const register = async (again = false) => {
    if (again) registration.instanceId = randomUUID();
    for (let delayMs = 500; ; delayMs = Math.min(delayMs * 2, 10_000)) {
      try {
        // The first host of a pool starts its scheduler, with this process's scheduler
        // settings until the control worker configures it (it configures every pool at start).
        await temporal.client.workflow.signalWithStart<typeof schedulerWorkflow, [HostRegistration]>(
          'schedulerWorkflow',
          {
            workflowId: schedulerWorkflowId(pool),
            taskQueue: CONTROL_TASK_QUEUE,
            args: [{ config: config.scheduler, ...(pool !== DEFAULT_POOL ? { pool } : {}) }],
            signal: registerHostSignal,
            signalArgs: [registration],
          },
        );
        log.info('registered with the scheduler', {
          hostId,
          pool,
          classes: registration.workerClasses,
          runnerUser: runnerUser.name,
        });
        presence.registered(registration.instanceId);
        return;
      } catch (err) {
        if (shutdown.signal.aborted) return;
        log.warn('could not register; retrying', { error: String(err), delayMs });
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  };

  // TESTBAY_URL may list several API servers: uploads go on through the next when one fails.
  const api = new TestbayClient(config.api.url, options.hostToken, config.api.clientTimeouts);
  api.onFailover = (from, to, reason) =>
    log.warn('API server unreachable; uploading through the next one', { from, to, reason });
  // `testbay barrier|send|receive` for the runners of recipe sets, first on their PATH.
  const cliDir = await installCliShim(options.workDir).catch((err: unknown) => {
    log.warn("could not put the testbay command on the runners' PATH", { error: String(err) });
    return undefined;
  });
  const activities = createHostActivities(
    {
      hostId,
      workDir: options.workDir,
      api,
      runnerPath: cliDir ? [cliDir, ...options.runnerPath] : options.runnerPath,
      runnerUser,
      killGraceMs: config.host.killGraceMs,
      logFlushMs: config.host.logFlushMs,
      maxLogBytes: config.host.maxLogBytes,
      maxResultsBytes: config.host.maxResultsBytes,
      maxTestcases: config.host.maxTestcases,
      shutdown: shutdown.signal,
      shutdownDeadlineMs: config.host.shutdownDeadlineMs,
      // Only the current registration's loss counts: an older presence that ends late is history.
      onPresenceLost: (instanceId) => {
        if (instanceId === registration.instanceId) void register(true);
      },
      onPresenceStarted: (instanceId) => presence.presenceStarted(instanceId),
      payloadKey: options.payloadKey,
      reserve: {
        ...(options.reserve?.startCommand ? { startCommand: options.reserve.startCommand } : {}),
        ...(options.reserve?.endCommand ? { endCommand: options.reserve.endCommand } : {}),
        timeoutMs: options.reserve?.timeoutMs ?? 60_000,
      },
      log,
      ...(options.hooks ? { hooks: options.hooks } : {}),
      hookTimeoutMs: config.host.hookTimeoutMs,
    },
    steps,
  );
  const worker = await Worker.create({
    connection: temporal.connection,
    namespace: config.temporal.namespace,
    taskQueue: hostTaskQueue(hostId),
    activities,
    // Heartbeats carry cancellation back to the runner: send them often, not at 0.8 × timeout.
    maxHeartbeatThrottleInterval: config.host.heartbeatThrottleMs,
    defaultHeartbeatThrottleInterval: config.host.heartbeatThrottleMs,
    // The running job gets the shutdown deadline plus time to stop its runner and report.
    shutdownGraceTime: config.host.shutdownDeadlineMs + config.host.killGraceMs + 10_000,
    // A chain keeps a few activities on its host at once: runs queued behind the running one,
    // provisioning ahead, uploads; plus the presence activity.
    maxConcurrentActivityTaskExecutions: 16,
    maxConcurrentActivityTaskPolls: HOST_ACTIVITY_POLLERS,
  });
  const done = worker.run().finally(() => {
    presence.stop();
    return steps.close();
  });
  await register();
  return {
    worker,
    registration,
    done,
    shutdown: async () => {
      if (!shutdown.signal.aborted) {
        log.info('shutting down: no new work; the running job may finish', {
          deadlineMs: config.host.shutdownDeadlineMs,
        });
        shutdown.abort();
        worker.shutdown();
      }
      await done;
    },
  };
}
