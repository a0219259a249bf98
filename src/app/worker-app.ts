import type { Config } from '../lib/config.ts';
import { confirmTimings } from '../lib/config.ts';
import { createEsignClient } from '../lib/esign/client.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { startPipeline, type Pipeline } from '../queues/pipeline.ts';
import { startRedriver } from '../queues/redrive.ts';
import { createRuntime, type AppTracing } from './runtime.ts';

export type WorkerConfig = Config<'common' | 'esign' | 'pipeline'>;

export interface WorkerApp {
  /** One per partition (QUEUE_PARTITIONS), in partition order. */
  pipelines: Pipeline[];
  /** Readiness for /readyz: Redis answers. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/** Every step processor, wired to Redis, the Esign client and the metrics. */
export function createWorkerApp(
  config: WorkerConfig,
  logger: Logger,
  metrics: Metrics,
  tracing?: AppTracing,
): WorkerApp {
  const { common, esign, pipeline: settings } = config;
  const runtime = createRuntime(config, {
    connection: { name: 'esign-worker' },
    logger,
    metrics,
    tracing,
  });
  const client = createEsignClient({
    config: esign,
    redis: runtime.redis,
    keyPrefix: common.keyPrefix,
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
    }),
  );

  // One re-driver per partition: each walks its own in-flight slots.
  const redrivers = runtime.all.map((partition) =>
    startRedriver({
      store: partition.store,
      queues: partition.queues.steps,
      intervalMs: settings.REDRIVE_INTERVAL_MS,
      afterMs: settings.REDRIVE_AFTER_MS,
      now: partition.now,
      logger,
      tracing: partition.tracing,
    }),
  );

  return {
    pipelines,
    ready: () => runtime.all[0]!.store.ping(),
    async close() {
      try {
        await Promise.all(redrivers.map((redriver) => redriver.stop()));
        await Promise.all(pipelines.map((pipeline) => pipeline.close(common.SHUTDOWN_TIMEOUT_MS)));
        await client.close();
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
