import type { Config } from '../lib/config.ts';
import { confirmTimings } from '../lib/config.ts';
import { within } from '../lib/deadline.ts';
import { createErrorLog, type ErrorLog } from '../lib/error-log.ts';
import { createEsignClient } from '../lib/esign/client.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { startPipeline, type Pipeline } from '../queues/pipeline.ts';
import { createRuntime } from './runtime.ts';

export type WorkerConfig = Config<'common' | 'esign' | 'pipeline'>;

export interface WorkerApp {
  pipeline: Pipeline;
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
  options: { errors?: ErrorLog | undefined } = {},
): WorkerApp {
  const { common, esign, pipeline: settings } = config;
  const errors = options.errors ?? createErrorLog(logger);
  const runtime = createRuntime(config, { connection: { name: 'esign-worker' }, logger, errors });
  const client = createEsignClient({
    config: esign,
    redis: runtime.redis,
    keyPrefix: common.keyPrefix,
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
    errors,
  });

  return {
    pipeline,
    async untilReady() {
      await Promise.all(pipeline.workers.map((worker) => worker.waitUntilReady()));
    },
    async close() {
      try {
        // The jobs first (bounded: SHUTDOWN_TIMEOUT_MS + 0.5 s), then whatever Esign request
        // is still open is cut: the jobs that made them are already given back.
        await pipeline.close(common.SHUTDOWN_TIMEOUT_MS);
        await within(client.close(), ESIGN_CLOSE_MS, 'closing the Esign client').catch(
          () => undefined,
        );
      } finally {
        await runtime.close();
      }
    },
  };
}
