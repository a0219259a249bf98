import type { Config } from '../lib/config.ts';
import { confirmTimings } from '../lib/config.ts';
import { createEsignClient } from '../lib/esign/client.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { startPipeline, type Pipeline } from '../queues/pipeline.ts';
import { createRuntime } from './runtime.ts';

export type WorkerConfig = Config<'common' | 'esign' | 'pipeline' | 'pii'>;

export interface WorkerApp {
  pipeline: Pipeline;
  /** Readiness for /readyz: Redis answers. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/** Every step processor, wired to Redis, the Esign client and the metrics. */
export function createWorkerApp(config: WorkerConfig, logger: Logger, metrics: Metrics): WorkerApp {
  const { common, esign, pipeline: settings } = config;
  const runtime = createRuntime(config, { connection: { name: 'esign-worker' }, logger, metrics });
  const client = createEsignClient({
    config: esign,
    redis: runtime.redis,
    keyPrefix: common.keyPrefix,
    cipher: runtime.cipher,
    logger,
    metrics,
  });
  const pipeline = startPipeline({
    services: runtime,
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
    ratePerSecond: settings.ESIGN_RATE_LIMIT_PER_SECOND,
    locks: {
      lockDurationMs: settings.LOCK_DURATION_MS,
      stalledIntervalMs: settings.STALLED_INTERVAL_MS,
    },
    metrics,
    logger,
  });

  return {
    pipeline,
    ready: () => runtime.store.ping(),
    async close() {
      try {
        await pipeline.close(common.SHUTDOWN_TIMEOUT_MS);
        await client.close();
      } finally {
        await runtime.close();
      }
    },
  };
}
