import type { Metrics, QueueName } from '../lib/metrics.ts';
import type { RegistrationStore } from '../lib/registration/store.ts';
import type { PipelineQueues } from '../queues/queues.ts';

const states = [
  'waiting',
  'active',
  'delayed',
  'failed',
  'completed',
  'prioritized',
  'waiting-children',
] as const;

/** Feed the scrape-time gauges (queue depth by state, redis_up) from these queues. */
export function watchQueueDepth(
  metrics: Metrics,
  queues: PipelineQueues,
  store: RegistrationStore,
): void {
  metrics.watchQueues({
    async counts(queue: QueueName) {
      const target = queue === 'results' ? queues.results : queues.steps[queue];
      return target.getJobCounts(...states);
    },
    redisUp: () => store.ping(),
  });
}
