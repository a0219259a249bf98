import type { Config } from '../lib/config.ts';
import { confirmTimings } from '../lib/config.ts';
import { within } from '../lib/deadline.ts';
import { createErrorLog, type ErrorLog } from '../lib/error-log.ts';
import { createEsignClient } from '../lib/esign/client.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { startPipeline, type Pipeline } from '../queues/pipeline.ts';
import { startRedriver } from '../queues/redrive.ts';
import { startTimerSweeper } from '../queues/timers.ts';
import { createRedriveLease, redriveLeaseMs } from '../queues/redrive-lease.ts';
import { createRuntime, type AppTracing } from './runtime.ts';

export type WorkerConfig = Config<'common' | 'esign' | 'pipeline' | 'pii'>;

export interface WorkerApp {
  /** One per partition (QUEUE_PARTITIONS), in partition order. */
  pipelines: Pipeline[];
  /** Resolves once every step worker's connections answer (Redis is there): "worker ready". */
  untilReady(): Promise<void>;
  /** Returns within SHUTDOWN_TIMEOUT_MS + 1 s, whatever Redis and Esign do. */
  close(): Promise<void>;
}

/** How long the Esign client gets, after the jobs, to let its last requests end. */
const ESIGN_CLOSE_MS = 100;

/** Every step processor, wired to Redis, the Esign client and the metrics. */
export function createWorkerApp(
  config: WorkerConfig,
  logger: Logger,
  metrics: Metrics,
  options: { errors?: ErrorLog | undefined; tracing?: AppTracing | undefined } = {},
): WorkerApp {
  const { common, esign, pipeline: settings } = config;
  const errors = options.errors ?? createErrorLog(logger);
  const { tracing } = options;
  const runtime = createRuntime(config, {
    connection: { name: 'esign-worker' },
    logger,
    errors,
    tracing,
  });
  const client = createEsignClient({
    config: esign,
    redis: runtime.redis,
    keyPrefix: common.keyPrefix,
    cipher: runtime.all[0]!.cipher,
    logger,
    metrics,
    tracer: tracing?.tracer,
  });
  // One pipeline (a worker per step) per partition; usually one.
  const pipelines = runtime.all.map((services, index) =>
    startPipeline({
      services,
      otherPartitions: runtime.all
        .filter((_, other) => other !== index)
        .map((partition) => partition.queues.steps),
      esign: client,
      settings: {
        maxReinitiations: settings.MAX_REINITIATIONS,
        callbackTimeoutMs: settings.CALLBACK_TIMEOUT_MS,
        pollIntervalMs: settings.POLL_INTERVAL_MS,
        pollMaxIntervalMs: settings.POLL_MAX_INTERVAL_MS,
        pollGiveUpMs: settings.POLL_GIVE_UP_MS,
        ...confirmTimings(esign, settings),
      },
      concurrency: {
        initiate: settings.CONCURRENCY_INITIATE,
        upload: settings.CONCURRENCY_UPLOAD,
        confirm: settings.CONCURRENCY_CONFIRM,
        poll: settings.CONCURRENCY_POLL,
        complete: settings.CONCURRENCY_COMPLETE,
      },
      // The cap is per queue; partitions have a queue each, so each gets its share.
      ratePerSecond: shareOf(settings.ESIGN_RATE_LIMIT_PER_SECOND, runtime.all.length),
      locks: {
        lockDurationMs: settings.LOCK_DURATION_MS,
        stalledIntervalMs: settings.STALLED_INTERVAL_MS,
      },
      metrics,
      logger,
      errors,
    }),
  );

  // One re-driver per partition: each walks its own in-flight slots, in the one worker process
  // holding that partition's lease.
  const redrivers = runtime.all.map((partition) =>
    startRedriver({
      store: partition.store,
      queues: partition.queues.steps,
      intervalMs: settings.REDRIVE_INTERVAL_MS,
      lease: createRedriveLease(
        partition.redis,
        partition.prefix,
        redriveLeaseMs(settings.REDRIVE_INTERVAL_MS),
      ),
      afterMs: settings.REDRIVE_AFTER_MS,
      now: partition.now,
      logger,
      tracing: partition.tracing,
    }),
  );

  // One timer sweeper per partition in every worker process: the fallback polls and deadlines.
  const sweepers = runtime.all.map((partition) =>
    startTimerSweeper({
      store: partition.store,
      queues: partition.queues.steps,
      intervalMs: settings.TIMER_INTERVAL_MS,
      now: partition.now,
      logger,
      tracing: partition.tracing,
    }),
  );

  return {
    pipelines,
    async untilReady() {
      const workers = pipelines.flatMap((pipeline) => pipeline.workers);
      await Promise.all(workers.map((worker) => worker.waitUntilReady()));
    },
    async close() {
      try {
        // The jobs first (bounded: SHUTDOWN_TIMEOUT_MS + 0.5 s), the re-drive and timer sweeps
        // beside them (bounded: 1 s), then whatever Esign request is still open is cut: the jobs that
        // made them are already given back.
        await Promise.all([
          ...redrivers.map((redriver) => redriver.stop()),
          ...sweepers.map((sweeper) => sweeper.stop()),
          ...pipelines.map((pipeline) => pipeline.close(common.SHUTDOWN_TIMEOUT_MS)),
        ]);
        await within(client.close(), ESIGN_CLOSE_MS, 'closing the Esign client').catch(
          () => undefined,
        );
      } finally {
        await runtime.close();
      }
    },
  };
}

/** A per-second cap split over `parts` queues (0 stays "no cap"; never below 1 a second). */
function shareOf(ratePerSecond: number, parts: number): number {
  return ratePerSecond === 0 ? 0 : Math.max(1, Math.floor(ratePerSecond / parts));
}
