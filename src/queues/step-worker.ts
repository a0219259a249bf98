import {
  DelayedError,
  UnrecoverableError,
  WaitingError,
  Worker,
  type Job,
  type Queue,
  type Telemetry,
} from 'bullmq';
import type { ErrorLog } from '../lib/error-log.ts';
import type { RedisClient } from '../lib/redis-topology.ts';
import { permanent, toWorkerError, type WorkerError } from '../lib/errors.ts';
import { FORMAT_RETRY_MS } from '../lib/format.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { StepContext, StepOutcome } from '../processors/context.ts';
import { readJobData, writeJobData, type StoredJobData } from '../lib/registration/format.ts';
import type { JobData, StepName } from '../lib/registration/jobs.ts';
import type { StepQueues } from './queues.ts';

export interface LockSettings {
  lockDurationMs: number;
  stalledIntervalMs: number;
}

/** Rate-limited runs allowed per attempt before a 429 counts as a failed attempt. */
const RATE_LIMITED_STARTS = 10;
const UNLIMITED_PER_SECOND = 1_000_000;

export interface StepWorkerOptions<S extends StepName> {
  step: S;
  process: (data: JobData<S>, ctx: StepContext) => Promise<StepOutcome>;
  context: (signal: AbortSignal) => StepContext;
  queues: StepQueues;
  connection: RedisClient;
  prefix: string;
  concurrency: number;
  /**
   * Jobs per second across all workers of this queue; 0 = unlimited (a limiter nothing
   * reaches, for a 429's pause); undefined = no limiter (a queue that calls no Esign API).
   */
  ratePerSecond: number | undefined;
  /** This step's queues in the other partitions: a 429 pauses them too (Esign's limit is one). */
  siblingQueues?: Queue[] | undefined;
  /** BullMQ lock and stalled-check timing (how soon a dead worker's job is retried). */
  locks?: LockSettings | undefined;
  metrics: Metrics;
  logger: Logger;
  /** BullMQ's telemetry: each job runs in the trace its enqueue recorded (off: undefined). */
  telemetry?: Telemetry | undefined;
  /** Where the worker's background errors go (throttled: a Redis outage repeats them). */
  errors: ErrorLog;
  /** Runs of the processor in flight (settled, never rejecting), for a bounded shutdown. */
  running: Set<Promise<void>>;
  /** Called once a registration's step has failed for good (permanent, or out of attempts). */
  onFinalFailure: (registrationId: string, error: WorkerError) => Promise<void>;
}

/**
 * The one place that maps processors onto BullMQ: enqueue what the processor asks for next
 * (deterministic ids make a replay a no-op), delay the job when the processor asks to wait,
 * classify failures (permanent → no retry), turn a 429 into a queue-wide pause for its
 * Retry-After, and count everything. Job payloads are read and written here in their stored
 * format (`v`, lib/registration/format.ts).
 */
export function startStepWorker<S extends StepName>(options: StepWorkerOptions<S>): Worker {
  const { step, metrics, logger } = options;
  const worker: Worker = new Worker(
    step,
    (job: Job<StoredJobData<S>>, token?: string, signal?: AbortSignal) => {
      const run = processJob(job, token, signal);
      const settled = run.then(
        () => undefined,
        () => undefined,
      );
      options.running.add(settled);
      void settled.finally(() => options.running.delete(settled));
      return run;
    },
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      telemetry: options.telemetry,
      ...(options.locks && {
        lockDuration: options.locks.lockDurationMs,
        stalledInterval: options.locks.stalledIntervalMs,
      }),
      // A limiter on every queue whose steps call Esign: BullMQ honours worker.rateLimit() (a
      // 429's Retry-After) across all workers of the queue only when one is set. "No limit" is
      // a limit nothing reaches. A queue that calls no Esign API (undefined) has none: a
      // limiter costs Redis commands on every job fetched.
      ...(options.ratePerSecond !== undefined && {
        limiter: {
          max: options.ratePerSecond > 0 ? options.ratePerSecond : UNLIMITED_PER_SECOND,
          duration: 1_000,
        },
      }),
    },
  );

  async function processJob(
    job: Job<StoredJobData<S>>,
    token: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const stop = metrics.jobDuration.startTimer({ queue: step });
    const ctx = options.context(signal ?? new AbortController().signal);
    try {
      const outcome = await options.process(readJobData<S>(job.data), ctx);
      for (const next of outcome.next)
        await options.queues[next.step].add(next.step, writeJobData(next.data), {
          jobId: next.jobId,
          ...(next.delayMs !== undefined && next.delayMs > 0 && { delay: next.delayMs }),
        });
      if (outcome.waitUntil !== undefined) {
        // The same job, later, its attempts untouched (BullMQ: moveToDelayed skips the attempt).
        await job.moveToDelayed(outcome.waitUntil, token);
        metrics.jobs.inc({ queue: step, outcome: 'delayed' });
        throw new DelayedError();
      }
      metrics.jobs.inc({ queue: step, outcome: 'completed' });
    } catch (raw) {
      if (raw instanceof DelayedError) throw raw;
      if (signal?.aborted) {
        // Cancelled by a shutdown past SHUTDOWN_TIMEOUT_MS (pipeline.close), not a failure
        // of the job: give it back to the queue as it was, no attempt used, for the next
        // worker. Every step is safe to run twice.
        logger.warn({ queue: step, registrationId: job.data.registrationId }, 'job given back');
        metrics.jobs.inc({ queue: step, outcome: 'retried' });
        await job.moveToWait(token);
        throw new WaitingError();
      }
      const error = toWorkerError(raw);
      metrics.jobErrors.inc({ queue: step, code: error.code });
      const registrationId = job.data.registrationId;
      const attempts = job.opts.attempts ?? 1;
      if (error.code === 'FORMAT_TOO_NEW') {
        // A newer release wrote what this job reads (a rolling deploy is under way): leave
        // the job to its workers, using no attempt, and never end the registration over it.
        logger.warn({ queue: step, registrationId, err: error }, 'left for a newer release');
        metrics.jobs.inc({ queue: step, outcome: 'retried' });
        await job.moveToDelayed(Date.now() + (error.retryAfterMs ?? FORMAT_RETRY_MS), token);
        throw new DelayedError();
      }
      if (
        error.code === 'ESIGN_RATE_LIMITED' &&
        job.attemptsStarted < attempts * RATE_LIMITED_STARTS
      ) {
        // The whole queue waits, not just this job: Esign asked every caller to slow down.
        // A rate-limited run uses no attempt; past RATE_LIMITED_STARTS per attempt, a 429
        // counts as an ordinary retryable failure, so an endless 429 cannot loop forever.
        const waitMs = error.retryAfterMs ?? 1_000;
        logger.warn({ queue: step, registrationId, waitMs }, 'rate limited by Esign');
        await worker.rateLimit(waitMs);
        await Promise.all((options.siblingQueues ?? []).map((queue) => queue.rateLimit(waitMs)));
        metrics.jobs.inc({ queue: step, outcome: 'retried' });
        throw Worker.RateLimitError();
      }
      const lastAttempt = job.attemptsMade + 1 >= attempts;
      if (!error.retryable || lastAttempt) {
        logger.error({ queue: step, registrationId, err: error }, 'step failed for good');
        metrics.jobs.inc({ queue: step, outcome: 'failed' });
        await options.onFinalFailure(registrationId, error);
        throw new UnrecoverableError(`${error.code}: ${error.message}`);
      }
      logger.warn({ queue: step, registrationId, err: error }, 'step failed, will retry');
      metrics.jobs.inc({ queue: step, outcome: 'retried' });
      throw error;
    } finally {
      stop();
    }
  }

  worker.on('error', (error) => options.errors.report('worker error', `worker:${step}`, error));
  // A job whose worker stopped renewing its lock (killed, or its event loop blocked) is put
  // back by another worker's stalled check; say so, since it will run a second time.
  worker.on('stalled', (jobId: string, previous: string) =>
    logger.warn({ queue: step, jobId, previous }, 'stalled job put back to run again'),
  );
  // BullMQ fails a job that stalled more than maxStalledCount times (its workers kept dying
  // on it) without calling the processor above, so nothing would end the registration: it
  // would wait forever and hold its user's in-flight slot. End it here instead.
  worker.on('failed', (job: Job<StoredJobData<S>> | undefined) => {
    if (!job?.deferredFailure) return;
    const registrationId = job.data.registrationId;
    const error = permanent('INTERNAL', `the ${step} step ${job.deferredFailure}`);
    logger.error({ queue: step, registrationId, err: error }, 'step failed for good');
    metrics.jobs.inc({ queue: step, outcome: 'failed' });
    options
      .onFinalFailure(registrationId, error)
      .catch((cause: unknown) =>
        logger.error({ queue: step, registrationId, err: cause }, 'could not record the failure'),
      );
  });
  return worker;
}
