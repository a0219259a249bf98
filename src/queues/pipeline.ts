import type { Worker } from 'bullmq';
import { remainingUntil, within } from '../lib/deadline.ts';
import type { ErrorLog } from '../lib/error-log.ts';
import type { EsignClient } from '../lib/esign/types.ts';
import type { Logger } from '../lib/logger.ts';
import { PauseLedger } from '../lib/pause-ledger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { complete } from '../processors/complete.ts';
import type { StepContext, StepSettings } from '../processors/context.ts';
import { finish } from '../processors/finish.ts';
import { poll } from '../processors/poll.ts';
import { submit } from '../processors/submit.ts';
import type { StepJobData, StepName } from '../lib/registration/jobs.ts';
import { attemptOf } from '../lib/registration/record.ts';
import { activeSpan } from '../lib/tracing/tracer.ts';
import { resultJobOptions, type PipelineQueues, type StepQueues } from './queues.ts';
import type { SharedServices } from './shared.ts';
import { stepGates } from './step-gates.ts';
import { startStepWorker, type LockSettings } from './step-worker.ts';

export interface PipelineDeps {
  /** Store, queues, cipher and image policy: the process's runtime. Not closed by the pipeline. */
  services: SharedServices;
  esign: EsignClient;
  settings: StepSettings;
  /**
   * Per worker process and partition. initiate, upload and confirm bound their step inside
   * submission jobs (step-gates.ts); the submission queue takes their sum of jobs at once.
   */
  concurrency: Record<StepName, number>;
  /** Submission and poll jobs started per second per queue across all workers; 0 = unlimited. */
  ratePerSecond: number;
  /** The other partitions' step queues (QUEUE_PARTITIONS > 1): a 429 pauses them as well. */
  otherPartitions?: StepQueues[] | undefined;
  locks?: LockSettings | undefined;
  metrics: Metrics;
  logger: Logger;
  errors: ErrorLog;
}

export interface Pipeline {
  queues: PipelineQueues;
  workers: Worker[];
  /**
   * Stop taking jobs, let active ones finish within `timeoutMs`, then cancel the rest; returns
   * by `timeoutMs` + 0.5 s at the latest (CANCEL_GRACE_MS + WORKERS_CLOSE_MS), whatever Redis
   * does, and within 0.2 s when nothing runs and Redis is away.
   * The queues stay open (the runtime's).
   */
  close(timeoutMs?: number): Promise<void>;
}

/** Start a worker for every queue, all sharing one context factory. */
export function startPipeline(deps: PipelineDeps): Pipeline {
  const { services } = deps;
  const queues = services.queues;
  const running = new Set<Promise<void>>();
  let draining = false;
  const pauses = new PauseLedger(services.redis, services.prefix);
  const context = (signal: AbortSignal): StepContext => ({
    esign: deps.esign,
    store: services.store,
    imageStore: services.imageStore,
    cipher: services.cipher,
    images: services.images,
    settings: deps.settings,
    logger: deps.logger,
    metrics: deps.metrics,
    now: services.now,
    signal,
    draining: () => draining,
    pausedWithin: (from, to) => pauses.pausedWithin(from, to),
    async publishResult(result) {
      await queues.results.add(
        'result',
        result,
        resultJobOptions(result.registrationId, attemptOf(result)),
      );
    },
    async cancelJob(step, jobId) {
      // A job that is running cannot be removed; it then finds the record terminal and stops.
      await queues.steps[step].remove(jobId).catch(() => 0);
    },
  });
  const onFinalFailure = async (
    registrationId: string,
    error: { code: string; message: string },
  ) => {
    await finish(context(new AbortController().signal), registrationId, {
      status: 'FAILED',
      source: 'worker',
      error: { code: error.code, message: error.message },
    });
    // Not caught: if the failure cannot be recorded (Redis blip), the job errors and BullMQ
    // retries it, rather than failing for good with no result ever published.
  };
  const common = {
    context,
    queues: queues.steps,
    connection: services.redis,
    prefix: services.prefix,
    telemetry: services.tracing.telemetry,
    locks: deps.locks,
    metrics: deps.metrics,
    logger: deps.logger,
    errors: deps.errors,
    running,
    onFinalFailure,
  };
  const { concurrency } = deps;
  const gates = stepGates(concurrency, deps.metrics, services.tracing.tracer);
  /** The submission phase, one job (processors/submit.ts), under this process's step limits. */
  const submission = (data: StepJobData, ctx: StepContext) => submit(data, ctx, gates(ctx.signal));
  /**
   * A registration enqueued without trace context (a producer with tracing off, or from an
   * earlier release) gets its trace here, at its first step: kept like the enqueue's, so the
   * callback still joins it. One SET NX per submission job, only with tracing on.
   */
  const rememberTrace =
    (process: typeof submission): typeof submission =>
    async (data, ctx) => {
      const traceparent = activeSpan(services.tracing.tracer).traceparent();
      if (traceparent)
        await services.tracing.contexts
          .save(data.registrationId, traceparent)
          .catch(() => undefined);
      return process(data, ctx);
    };
  const esignRate = deps.ratePerSecond;
  const siblings = (step: StepName) => (deps.otherPartitions ?? []).map((other) => other[step]);
  const workers = [
    // The submission queue: enough jobs at once to fill every step's limit.
    startStepWorker({
      ...common,
      step: 'initiate',
      siblingQueues: siblings('initiate'),
      process: rememberTrace(submission),
      concurrency: concurrency.initiate + concurrency.upload + concurrency.confirm,
      ratePerSecond: esignRate,
    }),
    // upload and confirm: only jobs an earlier release added; the same processor runs them.
    startStepWorker({
      ...common,
      step: 'upload',
      siblingQueues: siblings('upload'),
      process: submission,
      concurrency: concurrency.upload,
      ratePerSecond: esignRate,
    }),
    startStepWorker({
      ...common,
      step: 'confirm',
      siblingQueues: siblings('confirm'),
      process: submission,
      concurrency: concurrency.confirm,
      ratePerSecond: esignRate,
    }),
    startStepWorker({
      ...common,
      step: 'poll',
      siblingQueues: siblings('poll'),
      process: poll,
      concurrency: concurrency.poll,
      ratePerSecond: esignRate,
    }),
    startStepWorker({
      ...common,
      step: 'complete',
      siblingQueues: siblings('complete'),
      process: complete,
      concurrency: concurrency.complete,
      ratePerSecond: undefined, // calls no Esign API
    }),
  ];

  return {
    queues,
    workers,
    async close(timeoutMs = 30_000) {
      // Graceful first: no new jobs, active ones finish. Past the timeout, abort them: their
      // Esign calls end and the adapter gives each job back to the queue. (BullMQ's close(true)
      // after a close() only returns the pending close, which waits for the jobs: it forced
      // nothing.) A submission job stops at its next step boundary (draining). What is waited
      // for is our processors, not BullMQ's close: that also QUITs its connections, which
      // waits for ever while Redis is down. A processor stuck past the grace (on a Redis call,
      // which no signal cancels) is left to BullMQ's lock expiry.
      draining = true;
      const closing = Promise.allSettled(workers.map((worker) => worker.close()));
      const started = Date.now();
      const drained = async () => {
        while (running.size > 0) await Promise.all([...running]);
      };
      const finished = await within(drained(), timeoutMs, 'draining').then(
        () => true,
        () => false,
      );
      if (!finished) {
        deps.logger.warn({ timeoutMs }, 'shutdown timeout: cancelling the active jobs');
        for (const worker of workers) worker.cancelAllJobs('shutdown timeout');
        await within(drained(), CANCEL_GRACE_MS, 'cancelled jobs').catch(() => undefined);
      }
      // While Redis is connected, BullMQ finishes its side (moving the last jobs to completed,
      // QUIT) in moments: it may use what is left of the window. While Redis is away it would
      // wait for ever: a short look, then the connections are dropped.
      const budget =
        services.redis.status === 'ready'
          ? Math.max(WORKERS_CLOSE_MS, remainingUntil(started + timeoutMs + CANCEL_GRACE_MS))
          : WORKERS_CLOSE_MS;
      await within(closing, budget, 'closing the workers').catch(() =>
        deps.logger.warn('workers not closed cleanly (Redis away?): their connections are dropped'),
      );
    },
  };
}

/** After cancelling, how long aborted jobs get to be given back to their queue. */
const CANCEL_GRACE_MS = 300;
/** How long BullMQ gets to finish closing once our processors are done. */
const WORKERS_CLOSE_MS = 200;
