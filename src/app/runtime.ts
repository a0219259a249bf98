import { piiKeys, type Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { imagePolicyFromConfig } from '../lib/images/index.ts';
import { createPiiCipher } from '../lib/pii-cipher.ts';
import { openSharedServices, type SharedServices } from '../queues/shared.ts';
import { watchQueueDepth } from './queue-depth.ts';
import { connectRedis, type RedisOptions } from './redis.ts';

/** `pii` only for a process that seals or opens PII; without it nothing can be sealed. */
export type RuntimeConfig = Config<'common' | 'pipeline'> & Partial<Config<'pii'>>;

/**
 * What the worker, the listener and the producer share, built from the configuration in one
 * place: a Redis connection, the record store (with its retention), the queues (with their
 * retry policy), the PII cipher (from the `pii` section) and the image policy. close() closes
 * the queues, then the connection.
 */
export type Runtime = SharedServices;

export interface RuntimeOptions {
  /** The connection's name in Redis, and whether it fails fast (request paths) or waits. */
  connection: Pick<RedisOptions, 'name' | 'failFast'>;
  logger?: Logger | undefined;
  /** Given: the queue-depth and redis_up gauges read these queues at scrape time. */
  metrics?: Metrics | undefined;
}

export function createRuntime(config: RuntimeConfig, options: RuntimeOptions): Runtime {
  const { common, pipeline } = config;
  const { logger } = options;
  const runtime = openSharedServices({
    redis: connectRedis(common.redis, { ...options.connection, logger }),
    ownsRedis: true,
    prefix: common.keyPrefix,
    retry: { attempts: pipeline.JOB_ATTEMPTS, backoffMs: pipeline.JOB_BACKOFF_MS },
    retentionMs: pipeline.RECORD_RETENTION_DAYS * 24 * 3600 * 1000,
    deadlineMs: pipeline.REGISTRATION_TIMEOUT_MS,
    cipher: createPiiCipher(config.pii ? piiKeys(config.pii) : {}),
    images: imagePolicyFromConfig(pipeline),
    logger,
  });
  if (options.metrics) watchQueueDepth(options.metrics, runtime.queues, runtime.store);
  return runtime;
}
