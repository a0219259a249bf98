import type { Queue } from 'bullmq';
import type { Config } from '../lib/config.ts';
import { timersKey } from '../lib/registration/timers.ts';
import { within } from '../lib/deadline.ts';
import type { ErrorLog } from '../lib/error-log.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics, QueueName } from '../lib/metrics.ts';
import { closeRedis } from '../lib/redis-close.ts';
import { RESULTS_QUEUE, stepNames } from '../lib/registration/jobs.ts';
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
  // Opened on the first scrape: a process nobody scrapes keeps one connection and no queue.
  // Each partition's step queues (QUEUE_PARTITIONS, usually one), and the one results queue.
  let queues: { steps: Map<string, Queue>[]; results: Queue } | undefined;
  const open = () => {
    queues ??= {
      steps: common.partitionPrefixes.map(
        (prefix) =>
          new Map(openAllQueues(redis, prefix, options.logger, stepNames).map((q) => [q.name, q])),
      ),
      results: openAllQueues(redis, common.keyPrefix, options.logger, [RESULTS_QUEUE])[0]!,
    };
    return queues;
  };
  /** A step's depth is its sum over the partitions. */
  const counts = async (name: QueueName): Promise<Record<string, number>> => {
    const { steps, results } = open();
    if (name === RESULTS_QUEUE) return results.getJobCounts(...states);
    const each = await Promise.all(
      steps.map((partition) => partition.get(name)!.getJobCounts(...states)),
    );
    const total: Record<string, number> = {};
    for (const byState of each)
      for (const [state, count] of Object.entries(byState))
        total[state] = (total[state] ?? 0) + count;
    return total;
  };
  // The probe refuses commands until connected: right after start that is not an outage, so
  // the first connection is waited for (within the same deadline); after that, never.
  const firstConnection = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  let connectedOnce = false;
  void firstConnection.then(() => (connectedOnce = true));
  const askRedis = async (): Promise<string> => {
    if (!connectedOnce) await firstConnection;
    return redis.ping();
  };
  const ping = async (): Promise<boolean> =>
    (await within(askRedis(), READY_TIMEOUT_MS, 'PING').catch(() => 'down')) === 'PONG';

  /** The registration timers of every partition, pending and due (timers.ts). */
  const timers = async () => {
    if (!connectedOnce) await firstConnection;
    const now = Date.now();
    const each = await Promise.all(
      common.partitionPrefixes.map(async (prefix) => {
        const key = timersKey(prefix);
        const [all, due] = await Promise.all([redis.zcard(key), redis.zcount(key, '-inf', now)]);
        return { pending: all - due, due };
      }),
    );
    return {
      pending: each.reduce((sum, part) => sum + part.pending, 0),
      due: each.reduce((sum, part) => sum + part.due, 0),
    };
  };

  options.metrics.watchQueues({ counts, redisUp: ping, timers });
  return {
    ready: ping,
    async close() {
      if (queues)
        await within(
          Promise.all(
            [...queues.steps.flatMap((partition) => [...partition.values()]), queues.results].map(
              (q) => q.close(),
            ),
          ),
          200,
          'closing the probe queues',
        ).catch(() => undefined);
      await closeRedis(redis);
    },
  };
}
