import type { Worker } from 'bullmq';
import type { EsignClient } from '../lib/esign/types.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { complete } from '../processors/complete.ts';
import { confirm } from '../processors/confirm.ts';
import type { StepContext, StepSettings } from '../processors/context.ts';
import { finish } from '../processors/finish.ts';
import { initiate } from '../processors/initiate.ts';
import { poll } from '../processors/poll.ts';
import { upload } from '../processors/upload.ts';
import type { StepName } from '../lib/registration/jobs.ts';
import { resultJobOptions, type PipelineQueues } from './queues.ts';
import type { SharedServices } from './shared.ts';
import { startStepWorker, type LockSettings } from './step-worker.ts';

export interface PipelineDeps {
  /** Store, queues, cipher and image policy: the process's runtime. Not closed by the pipeline. */
  services: SharedServices;
  esign: EsignClient;
  settings: StepSettings;
  concurrency: Record<StepName, number>;
  /** Esign-calling jobs per second per queue across all workers; 0 = unlimited. */
  ratePerSecond: number;
  locks?: LockSettings | undefined;
  metrics: Metrics;
  logger: Logger;
}

export interface Pipeline {
  queues: PipelineQueues;
  workers: Worker[];
  /** Stop taking jobs, let active ones finish (bounded); the queues stay open (the runtime's). */
  close(timeoutMs?: number): Promise<void>;
}

/** Start a worker for every step, all sharing one context factory. */
export function startPipeline(deps: PipelineDeps): Pipeline {
  const { services } = deps;
  const queues = services.queues;
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
    async publishResult(result) {
      await queues.results.add('result', result, resultJobOptions(result.registrationId));
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
    locks: deps.locks,
    metrics: deps.metrics,
    logger: deps.logger,
    onFinalFailure,
  };
  const esignRate = deps.ratePerSecond;
  const workers = [
    startStepWorker({
      ...common,
      step: 'initiate',
      process: initiate,
      concurrency: deps.concurrency.initiate,
      ratePerSecond: esignRate,
    }),
    startStepWorker({
      ...common,
      step: 'upload',
      process: upload,
      concurrency: deps.concurrency.upload,
      ratePerSecond: 0,
    }),
    startStepWorker({
      ...common,
      step: 'confirm',
      process: confirm,
      concurrency: deps.concurrency.confirm,
      ratePerSecond: esignRate,
    }),
    startStepWorker({
      ...common,
      step: 'poll',
      process: poll,
      concurrency: deps.concurrency.poll,
      ratePerSecond: esignRate,
    }),
    startStepWorker({
      ...common,
      step: 'complete',
      process: complete,
      concurrency: deps.concurrency.complete,
      ratePerSecond: 0,
    }),
  ];

  return {
    queues,
    workers,
    async close(timeoutMs = 30_000) {
      // Graceful first: active jobs finish. Past the timeout, abort them: their Esign calls
      // end and the adapter gives each job back to the queue. (BullMQ's close(true) after a
      // close() only returns the pending close, which waits for the jobs: it forced nothing.)
      // A processor that ignores its signal is left to BullMQ's lock expiry after the grace.
      const graceful = Promise.allSettled(workers.map((worker) => worker.close()));
      const timer = new Promise<'timeout'>((resolve) =>
        setTimeout(resolve, timeoutMs, 'timeout').unref(),
      );
      if ((await Promise.race([graceful, timer])) === 'timeout') {
        deps.logger.warn({ timeoutMs }, 'shutdown timeout: cancelling the active jobs');
        for (const worker of workers) worker.cancelAllJobs('shutdown timeout');
        const grace = new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref());
        await Promise.race([graceful, grace]);
      }
    },
  };
}
