import { Queue, type JobsOptions, type Telemetry } from 'bullmq';
import type { RedisClient } from '../lib/redis-topology.ts';
import type { Logger } from '../lib/logger.ts';
import { jobIds, RESULTS_QUEUE, stepNames, type StepName } from '../lib/registration/jobs.ts';

export interface RetrySettings {
  attempts: number;
  backoffMs: number;
}

/**
 * Retries: exponential backoff with jitter, so a burst of failures does not come back as a
 * burst. A step job is removed as soon as it completes: the record is the registration's
 * history (its `history`, status and timestamps), and a kept job would cost about 1.5 KB per
 * step per registration for nothing the record does not say. Its deterministic id still
 * dedupes an add while the job waits or runs; an add replayed after it completed (a stalled
 * job run again, a duplicate callback, a re-drive) runs the step once more, and the record
 * makes that run a no-op (every step re-reads it and skips finished work, confirm is claimed
 * in it, statuses only move forward, a result is published once). Failed jobs are kept, for
 * `inspect`, the UI and `retry`, capped.
 */
export function stepJobOptions(retry: RetrySettings): JobsOptions {
  return {
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
    removeOnComplete: true,
    removeOnFail: { age: 14 * 24 * 3600, count: KEPT_FAILED_JOBS },
  };
}

/** Consumed results kept per queue (see createQueues); failed jobs longer, for inspection. */
export const KEPT_JOBS = 1_000;
export const KEPT_FAILED_JOBS = 10_000;
/** BullMQ's events stream per queue (default 10,000 entries); nothing here reads it. */
export const EVENTS_KEPT = 100;

/**
 * How a result is added: once per registration attempt. Its job id dedupes while the job is
 * kept (an hour, capped); BullMQ's deduplication key (a few bytes, an hour) also covers a
 * job already trimmed by the cap, and the record's `published` flag anything later.
 */
export function resultJobOptions(registrationId: string, attempt: number): JobsOptions {
  const jobId = jobIds.result(registrationId, attempt);
  return { jobId, deduplication: { id: jobId, ttl: RESULT_DEDUP_MS } };
}
const RESULT_DEDUP_MS = 3600 * 1000;

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
  const streams = { events: { maxLen: EVENTS_KEPT } };
  // With telemetry, each add records the active trace in the job's options, and the worker
  // continues it: that is how one registration stays one trace across the steps.
  const options = {
    connection,
    prefix,
    streams,
    defaultJobOptions: stepJobOptions(retry),
    telemetry,
  };
  const steps = Object.fromEntries(
    stepNames.map((name) => [name, new Queue(name, options)]),
  ) as StepQueues;
  // A result the consumer took is in the record too (status): kept an hour, capped.
  const results = new Queue(RESULTS_QUEUE, {
    connection,
    prefix: resultsPrefix,
    streams,
    telemetry,
    defaultJobOptions: {
      removeOnComplete: { age: 3600, count: KEPT_JOBS },
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
