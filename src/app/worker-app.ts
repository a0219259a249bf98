import type { Config } from '../lib/config.ts';
import { confirmTimings, decodeKey } from '../lib/config.ts';
import { createEsignClient } from '../lib/esign/client.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { createPiiCipher } from '../lib/pii-cipher.ts';
import { RegistrationStore } from '../lib/registration/store.ts';
import { startPipeline, type Pipeline } from '../queues/pipeline.ts';
import { watchQueueDepth } from './queue-depth.ts';
import { connectRedis } from './redis.ts';

export type WorkerConfig = Config<'common' | 'esign' | 'pipeline'>;

export interface WorkerApp {
  pipeline: Pipeline;
  /** Readiness for /readyz: Redis answers. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/** Every step processor, wired to Redis, the Esign client and the metrics. */
export function createWorkerApp(config: WorkerConfig, logger: Logger, metrics: Metrics): WorkerApp {
  const { common, esign, pipeline: settings } = config;
  const redis = connectRedis(common.REDIS_URL, { name: 'esign-worker', logger });
  const store = new RegistrationStore({
    redis,
    prefix: common.QUEUE_PREFIX,
    retentionMs: settings.RECORD_RETENTION_DAYS * 24 * 3600 * 1000,
  });
  const client = createEsignClient({
    config: esign,
    redis,
    keyPrefix: common.QUEUE_PREFIX,
    logger,
    metrics,
  });
  const key =
    settings.PII_ENCRYPTION_KEY === undefined ? undefined : decodeKey(settings.PII_ENCRYPTION_KEY);
  const pipeline = startPipeline({
    redis,
    prefix: common.QUEUE_PREFIX,
    esign: client,
    store,
    cipher: createPiiCipher(key),
    images: {
      root: settings.IMAGE_ROOT,
      allowedHosts: settings.IMAGE_URL_ALLOWED_HOSTS,
      maxBytes: settings.MAX_IMAGE_BYTES,
    },
    settings: {
      maxReinitiations: settings.MAX_REINITIATIONS,
      callbackTimeoutMs: settings.CALLBACK_TIMEOUT_MS,
      pollIntervalMs: settings.POLL_INTERVAL_MS,
      pollMaxIntervalMs: settings.POLL_MAX_INTERVAL_MS,
      pollGiveUpMs: settings.POLL_GIVE_UP_MS,
      ...confirmTimings(esign, settings),
    },
    retry: { attempts: settings.JOB_ATTEMPTS, backoffMs: settings.JOB_BACKOFF_MS },
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
  watchQueueDepth(metrics, pipeline.queues, store);

  return {
    pipeline,
    ready: () => store.ping(),
    async close() {
      await pipeline.close(common.SHUTDOWN_TIMEOUT_MS);
      await client.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
