import { piiKeys, type Config } from '../lib/config.ts';
import type { ErrorLog } from '../lib/error-log.ts';
import type { Logger } from '../lib/logger.ts';
import { imagePolicyFromConfig } from '../lib/images/index.ts';
import { createPiiCipher } from '../lib/pii-cipher.ts';
import { openPartitionSet, type PartitionSet } from '../queues/partitions.ts';
import type { RedisClient } from '../lib/redis-topology.ts';
import type { Tracing } from '../lib/tracing/sdk.ts';
import { connectRedis, type RedisOptions } from './redis.ts';

/** `pii` only for a process that seals or opens PII; without it nothing can be sealed. */
export type RuntimeConfig = Config<'common' | 'pipeline'> & Partial<Config<'pii'>>;

/**
 * What the worker, the listener and the producer share, built from the configuration in one
 * place: a Redis connection and, per partition (QUEUE_PARTITIONS, usually one), the record
 * store (with its retention), the queues (with their retry policy), the PII cipher (from the
 * `pii` section) and the image policy. close() closes the queues, then the connection
 * (bounded). The scrape-time gauges and /readyz read Redis on a connection of their own
 * (app/health.ts), never on this one.
 */
export interface Runtime extends PartitionSet {
  redis: RedisClient;
}

export interface RuntimeOptions {
  /** The connection's name in Redis, and whether it fails fast (request paths) or waits. */
  connection: Pick<RedisOptions, 'name' | 'failFast'>;
  logger?: Logger | undefined;
  /** Where the connection's errors go (throttled); by default a log of its own. */
  errors?: ErrorLog | undefined;
  /** Given (tracing on): queues carry trace context, and our spans are made. */
  tracing?: AppTracing | undefined;
}

/** What the factories need of a started SDK (main.ts starts it, and shuts it down last). */
export type AppTracing = Pick<Tracing, 'tracer' | 'telemetry'>;

export function createRuntime(config: RuntimeConfig, options: RuntimeOptions): Runtime {
  const { common, pipeline } = config;
  const { logger } = options;
  const redis = connectRedis(common.redis, {
    ...options.connection,
    logger,
    errors: options.errors,
  });
  const partitions = openPartitionSet({
    redis,
    ownsRedis: true,
    basePrefix: common.keyPrefix,
    prefixes: common.partitionPrefixes,
    retry: { attempts: pipeline.JOB_ATTEMPTS, backoffMs: pipeline.JOB_BACKOFF_MS },
    retentionMs: pipeline.RECORD_RETENTION_DAYS * 24 * 3600 * 1000,
    deadlineMs: pipeline.REGISTRATION_TIMEOUT_MS,
    cipher: createPiiCipher(config.pii ? piiKeys(config.pii) : {}),
    images: imagePolicyFromConfig(pipeline),
    logger,
    tracer: options.tracing?.tracer,
    telemetry: options.tracing?.telemetry,
  });
  return { ...partitions, redis };
}
