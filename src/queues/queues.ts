import { Queue, type JobsOptions, type Telemetry } from 'bullmq';
import type { RedisClient } from '../lib/redis-topology.ts';
import type { Logger } from '../lib/logger.ts';
import { RESULTS_QUEUE, stepNames, type StepName } from '../lib/registration/jobs.ts';

export interface RetrySettings {
  attempts: number;
  backoffMs: number;
}

/**
 * Retries: exponential backoff with jitter, so a burst of failures does not come back as a
 * burst. Finished jobs are kept a day (a replayed enqueue with the same id stays a no-op
 * meanwhile); the record, not the job id, prevents duplicates beyond that.
 */
export function stepJobOptions(retry: RetrySettings): JobsOptions {
  return {
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
    removeOnComplete: { age: 24 * 3600, count: 100_000 },
    removeOnFail: { age: 14 * 24 * 3600 },
  };
}

export type StepQueues = Record<StepName, Queue>;

export interface PipelineQueues {
  steps: StepQueues;
  results: Queue;
  close(): Promise<void>;
}

export function createQueues(
  connection: RedisClient,
  prefix: string,
  retry: RetrySettings,
  logger?: Logger,
  /** Where the results queue lives: the base prefix, one queue for every partition. */
  resultsPrefix = prefix,
  telemetry?: Telemetry,
): PipelineQueues {
  // With telemetry, each add records the active trace in the job's options, and the worker
  // continues it: that is how one registration stays one trace across the steps.
  const options = { connection, prefix, defaultJobOptions: stepJobOptions(retry), telemetry };
  const steps = Object.fromEntries(
    stepNames.map((name) => [name, new Queue(name, options)]),
  ) as StepQueues;
  const results = new Queue(RESULTS_QUEUE, {
    connection,
    prefix: resultsPrefix,
    telemetry,
    defaultJobOptions: {
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: { age: 30 * 24 * 3600 },
    },
  });
  // Without a listener BullMQ prints every reconnect error; the connection already logs them.
  for (const queue of [...Object.values(steps), results])
    queue.on('error', (error) => logger?.debug({ err: error, queue: queue.name }, 'queue error'));
  return {
    steps,
    results,
    async close() {
      await Promise.all([...Object.values(steps), results].map((queue) => queue.close()));
    },
  };
}

/**
 * Every queue (the five steps and results) under a prefix, opened only to be looked at (the
 * queue UI): no default job options, since nothing here adds jobs of its own.
 */
export function openAllQueues(
  connection: RedisClient,
  prefix: string,
  logger?: Logger,
  names: readonly string[] = [...stepNames, RESULTS_QUEUE],
): Queue[] {
  return names.map((name) => {
    const queue = new Queue(name, { connection, prefix });
    queue.on('error', (error) => logger?.debug({ err: error, queue: name }, 'queue error'));
    return queue;
  });
}
