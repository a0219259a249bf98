import type { Metrics, QueueName } from '../lib/metrics.ts';
import type { SharedServices } from '../queues/shared.ts';

const states = [
  'waiting',
  'active',
  'delayed',
  'failed',
  'completed',
  'prioritized',
  'waiting-children',
] as const;

/**
 * Feed the scrape-time gauges (queue depth by state, redis_up) from these partitions' queues:
 * a step's depth is its sum over the partitions; the results queue is one for all of them.
 */
export function watchQueueDepth(metrics: Metrics, partitions: SharedServices[]): void {
  const first = partitions[0]!;
  metrics.watchQueues({
    async counts(queue: QueueName) {
      if (queue === 'results') return first.queues.results.getJobCounts(...states);
      const each = await Promise.all(
        partitions.map((partition) => partition.queues.steps[queue].getJobCounts(...states)),
      );
      const total: Record<string, number> = {};
      for (const counts of each)
        for (const [state, count] of Object.entries(counts))
          total[state] = (total[state] ?? 0) + count;
      return total;
    },
    redisUp: () => first.store.ping(),
  });
}
