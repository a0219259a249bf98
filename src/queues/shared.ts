import type { Telemetry } from 'bullmq';
import type { RedisClient } from '../lib/redis-topology.ts';
import type { ImagePolicy } from '../lib/images/index.ts';
import { within } from '../lib/deadline.ts';
import type { Logger } from '../lib/logger.ts';
import type { PiiCipher } from '../lib/pii-cipher.ts';
import { closeRedis } from '../lib/redis-close.ts';
import { ImageStore } from '../lib/registration/image-store.ts';
import { RegistrationStore } from '../lib/registration/store.ts';
import { TraceContexts } from '../lib/registration/trace-context.ts';
import type { Tracer } from '../lib/tracing/tracer.ts';
import { createQueues, type PipelineQueues, type RetrySettings } from './queues.ts';

/**
 * What every part of the service that touches registrations shares: the record store and the
 * queues on one Redis connection, and the cipher and image policy requests are sealed and
 * checked with. Built here and nowhere else: by `app/runtime.ts` from the configuration, or by
 * `createProducer` for a service that only enqueues.
 */
export interface SharedServices {
  redis: RedisClient;
  /** QUEUE_PREFIX: every key and queue lives under it. */
  prefix: string;
  store: RegistrationStore;
  /** Inline images, sealed, apart from the record. */
  imageStore: ImageStore;
  /** How long after enqueue a registration ends TIMED_OUT at the latest (REGISTRATION_TIMEOUT_MS). */
  deadlineMs: number;
  /** Opened on first use, so a process that only reads records opens no queue. */
  readonly queues: PipelineQueues;
  cipher: PiiCipher;
  images: ImagePolicy;
  now: () => number;
  /** Tracing, when on: our spans, BullMQ's `telemetry` option, and each registration's trace. */
  tracing: ServiceTracing;
  /**
   * Closes the queues opened; quits the connection too when it was handed over (`ownsRedis`).
   * Bounded (0.4 s at most) even while Redis is down: then the connection is dropped.
   */
  close(): Promise<void>;
}

export interface SharedServicesOptions {
  redis: RedisClient;
  prefix: string;
  retry: RetrySettings;
  /** How long finished records are kept. */
  retentionMs: number;
  deadlineMs: number;
  cipher: PiiCipher;
  images: ImagePolicy;
  /** The results queue's prefix when it is not `prefix` (partitions share one results queue). */
  resultsPrefix?: string | undefined;
  /** Partitions record where a submission lives before the store indexes it. */
  beforeIndexSubmission?: ((submissionId: string) => Promise<void>) | undefined;
  /** Whether close() also quits `redis` (the runtime opened it; a caller's is left open). */
  ownsRedis?: boolean;
  logger?: Logger | undefined;
  now?: (() => number) | undefined;
  tracer?: Tracer | undefined;
  telemetry?: Telemetry | undefined;
}

export interface ServiceTracing {
  tracer: Tracer | undefined;
  telemetry: Telemetry | undefined;
  contexts: TraceContexts;
}

/** Queues on a shared connection close without a round trip to Redis, unless it is away. */
const QUEUES_CLOSE_TIMEOUT_MS = 200;

export function openSharedServices(options: SharedServicesOptions): SharedServices {
  const { redis, prefix } = options;
  const now = options.now ?? Date.now;
  const store = new RegistrationStore({
    redis,
    prefix,
    retentionMs: options.retentionMs,
    now,
    beforeIndexSubmission: options.beforeIndexSubmission,
  });
  let queues: PipelineQueues | undefined;
  return {
    redis,
    prefix,
    store,
    imageStore: new ImageStore(redis, prefix, options.cipher),
    deadlineMs: options.deadlineMs,
    get queues() {
      queues ??= createQueues(
        redis,
        prefix,
        options.retry,
        options.logger,
        options.resultsPrefix,
        options.telemetry,
      );
      return queues;
    },
    cipher: options.cipher,
    images: options.images,
    now,
    tracing: {
      tracer: options.tracer,
      telemetry: options.telemetry,
      contexts: new TraceContexts({ redis, prefix, ttlMs: options.retentionMs }),
    },
    async close() {
      if (queues)
        await within(queues.close(), QUEUES_CLOSE_TIMEOUT_MS, 'closing the queues').catch(
          (error: unknown) => options.logger?.warn({ err: error }, 'queues not closed cleanly'),
        );
      if (options.ownsRedis) await closeRedis(redis);
    },
  };
}
