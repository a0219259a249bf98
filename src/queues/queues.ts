import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../lib/redis-topology.ts';
import type { Logger } from '../lib/logger.ts';
import { RESULTS_QUEUE, stepNames, type StepName } from '../lib/registration/jobs.ts';

export interface RetrySettings {
  attempts: number;
  backoffMs: number;
}

/**
 * Retries: exponential backoff with jitter, so a burst of failures does not come back as a
 * burst. Finished jobs are kept an hour, at most KEPT_JOBS of them per queue (a replayed
 * enqueue with the same id stays a no-op meanwhile); the record, not the job id, prevents
 * duplicates beyond that: every step re-reads it and skips finished work. Bounded, so Redis
 * memory per finished registration is its record and index only (bench/memory.ts).
 */
export function stepJobOptions(retry: RetrySettings): JobsOptions {
  return {
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
    removeOnComplete: { age: 3600, count: KEPT_JOBS },
    removeOnFail: { age: 14 * 24 * 3600, count: KEPT_FAILED_JOBS },
  };
}

/** Finished jobs kept per queue (see stepJobOptions); failed ones longer, for inspection. */
export const KEPT_JOBS = 1_000;
export const KEPT_FAILED_JOBS = 10_000;
/** BullMQ's events stream per queue (default 10,000 entries); nothing here reads it. */
export const EVENTS_KEPT = 1_000;

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
): PipelineQueues {
  const streams = { events: { maxLen: EVENTS_KEPT } };
  const options = { connection, prefix, streams, defaultJobOptions: stepJobOptions(retry) };
  const steps = Object.fromEntries(
    stepNames.map((name) => [name, new Queue(name, options)]),
  ) as StepQueues;
  // A result the consumer took is in the record too (status): kept a day, capped.
  const results = new Queue(RESULTS_QUEUE, {
    connection,
    prefix,
    streams,
    defaultJobOptions: {
      removeOnComplete: { age: 24 * 3600, count: KEPT_JOBS },
      removeOnFail: { age: 30 * 24 * 3600, count: KEPT_FAILED_JOBS },
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
export function openAllQueues(connection: RedisClient, prefix: string, logger?: Logger): Queue[] {
  return [...stepNames, RESULTS_QUEUE].map((name) => {
    const queue = new Queue(name, { connection, prefix });
    queue.on('error', (error) => logger?.debug({ err: error, queue: name }, 'queue error'));
    return queue;
  });
}
