import { Redis } from 'ioredis';
import { createErrorLog, type ErrorLog } from '../lib/error-log.ts';
import type { Logger } from '../lib/logger.ts';

export interface RedisOptions {
  /**
   * Request paths (the callback listener, producers, the queue UI) fail within a few seconds
   * while Redis is away, so a callback gets a 503 rather than hanging. Without it commands wait
   * for Redis to return: BullMQ workers need that (`maxRetriesPerRequest: null`), their
   * blocking commands must wait out a Redis restart.
   */
  failFast?: boolean;
  /**
   * Health checks and scrape-time reads: never queued, refused at once while disconnected,
   * cut after 1 s when Redis hangs, and reconnecting within a second of its return, so
   * /readyz and /metrics tell the truth in ≤ 2 s.
   */
  probe?: boolean;
  name?: string;
  /** Where connection errors go (throttled); without a listener ioredis prints them. */
  logger?: Logger | undefined;
  /** Shared with the rest of the process, so one outage is one throttled line (lib/error-log). */
  errors?: ErrorLog | undefined;
}

const modes = {
  wait: { maxRetriesPerRequest: null },
  failFast: { maxRetriesPerRequest: 1, commandTimeout: 5_000 },
  probe: {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1_000),
  },
} as const;

export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  const mode = options.probe ? 'probe' : options.failFast ? 'failFast' : 'wait';
  const redis = new Redis(url, { connectionName: options.name, ...modes[mode] });
  const errors = options.errors ?? (options.logger && createErrorLog(options.logger));
  const source = options.name ?? 'redis';
  redis.on('error', (error: Error) => errors?.report('redis connection error', source, error));
  return redis;
}
