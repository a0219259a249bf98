import type { Queue } from 'bullmq';
import type { Config } from '../lib/config.ts';
import { within } from '../lib/deadline.ts';
import type { ErrorLog } from '../lib/error-log.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics, QueueName } from '../lib/metrics.ts';
import { closeRedis } from '../lib/redis-close.ts';
import { openAllQueues } from '../queues/queues.ts';
import { connectRedis } from './redis.ts';

/**
 * What a process says about Redis: `/readyz` and the scrape-time gauges (`redis_up`, queue
 * depth). They read on a probe connection of their own (see connectRedis: never queued,
 * refused at once while disconnected, 1 s per command), never on the worker's connection,
 * which waits out outages: a PING there hung /readyz and /metrics for as long as Redis was
 * down, and the QUIT at shutdown waited behind it. Each read is also bounded here, so an
 * answer comes in about a second whatever Redis does.
 */
export interface Health {
  /** Redis answered a PING within READY_TIMEOUT_MS. Never rejects. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export const READY_TIMEOUT_MS = 1_000;

const states = [
  'waiting',
  'active',
  'delayed',
  'failed',
  'completed',
  'prioritized',
  'waiting-children',
] as const;

export function createHealth(
  config: Config<'common'>,
  options: { logger: Logger; metrics: Metrics; errors?: ErrorLog | undefined; name: string },
): Health {
  const { common } = config;
  const redis = connectRedis(common.redis, {
    probe: true,
    name: `${options.name}-health`,
    logger: options.logger,
    errors: options.errors,
  });
  // Opened on the first scrape: a process nobody scrapes keeps one connection, not seven.
  let queues: Map<QueueName, Queue> | undefined;
  const queue = (name: QueueName): Queue => {
    queues ??= new Map(
      openAllQueues(redis, common.keyPrefix, options.logger).map((q) => [q.name as QueueName, q]),
    );
    const found = queues.get(name);
    if (!found) throw new Error(`no queue ${name}`);
    return found;
  };
  const ping = async (): Promise<boolean> =>
    (await within(redis.ping(), READY_TIMEOUT_MS, 'PING').catch(() => 'down')) === 'PONG';

  options.metrics.watchQueues({
    counts: (name) => queue(name).getJobCounts(...states),
    redisUp: ping,
  });
  return {
    ready: ping,
    async close() {
      if (queues)
        await within(
          Promise.all([...queues.values()].map((q) => q.close())),
          200,
          'closing the probe queues',
        ).catch(() => undefined);
      await closeRedis(redis);
    },
  };
}
