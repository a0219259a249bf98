import { within } from '../lib/deadline.ts';
import type { Logger } from '../lib/logger.ts';
import { writeJobData } from '../lib/registration/format.ts';
import type { RegistrationStore } from '../lib/registration/store.ts';
import { dueJobs, type DueJob } from '../lib/registration/timers.ts';
import { inSpan } from '../lib/tracing/tracer.ts';
import type { StepQueues } from './queues.ts';
import { readableRecords, UNREADABLE } from './readable-records.ts';
import type { ServiceTracing } from './shared.ts';

/**
 * The timer sweeper: every TIMER_INTERVAL_MS each worker process wakes its partitions' due
 * registration timers (lib/registration/timers.ts): it reads the records, adds the jobs they
 * say are due (a fallback poll, the deadline's completion) under their deterministic ids, and
 * then moves each timer to its next time, or removes it — unless a write moved it meanwhile.
 * A timer whose record cannot be read (damaged, or a newer release's) is put off a few
 * minutes, so it never holds up the timers behind it.
 *
 * At least once, like the queues: a process that dies between adding and re-scoring leaves
 * the timer due, and the next sweep adds the same ids again (BullMQ keeps one job per id while
 * it exists; a step that runs again finds its work done). Two processes that sweep at the same
 * moment do the same. A timer whose record is gone (expired, erased) or ended is removed.
 */

export interface TimerSweeperOptions {
  store: RegistrationStore;
  queues: StepQueues;
  /** TIMER_INTERVAL_MS. */
  intervalMs: number;
  now: () => number;
  logger: Logger;
  /** With tracing on, a woken job continues its registration's trace. */
  tracing?: ServiceTracing | undefined;
}

/** Timers woken per read; a sweep reads again while batches come back full. */
const BATCH = 100;
/** When a timer whose record cannot be read is looked at again. */
const RETRY_MS = 5 * 60_000;
/** A sweep that outlives this (Redis unreachable) is abandoned; the next round starts over. */
const SWEEP_BOUND_MS = 10_000;

/** One pass: every timer due now, woken. Returns how many jobs it added. */
export async function wakeDueTimers(options: TimerSweeperOptions): Promise<number> {
  let added = 0;
  for (let round = 0; round < 50; round += 1) {
    const timers = await options.store.timers.due(options.now(), BATCH);
    const records = await readableRecords(
      options.store,
      options.logger,
      timers.map((timer) => timer.registrationId),
      'its timer is put off',
    );
    await Promise.all(
      timers.map(async (timer, index) => {
        const record = records[index];
        // Gone (expired, erased): its timer goes. Unreadable (damaged, or a newer release's,
        // whose workers sweep too): looked at again later, so it does not hold up the rest.
        if (record === undefined || record === UNREADABLE) {
          const later = record === UNREADABLE ? options.now() + RETRY_MS : undefined;
          await options.store.timers.rescore(timer, later);
          return;
        }
        const { due, next } = dueJobs(record, options.now());
        for (const job of due) await add(options, job);
        added += due.length;
        await options.store.timers.rescore(timer, next);
      }),
    );
    if (timers.length < BATCH) break;
  }
  return added;
}

async function add(options: TimerSweeperOptions, job: DueJob): Promise<void> {
  const { registrationId } = job.data;
  const { tracer, contexts } = options.tracing ?? {};
  await inSpan(
    tracer,
    'esign.registration.timer',
    {
      parent: tracer && (await contexts?.find(registrationId)),
      attributes: { 'esign.registration.id': registrationId, 'bullmq.job.id': job.jobId },
    },
    () => options.queues[job.step].add(job.step, writeJobData(job.data), { jobId: job.jobId }),
  );
}

export interface TimerSweeper {
  stop(): Promise<void>;
}

/**
 * A sweep at start and every `intervalMs`, one at a time, each bounded; a failed one is logged
 * and the next round tries again: never thrown. Stopping waits for a running sweep briefly:
 * one stuck on an unreachable Redis ends with the connection, and the next start sweeps again.
 */
export function startTimerSweeper(options: TimerSweeperOptions): TimerSweeper {
  const { logger } = options;
  let running: Promise<void> | undefined;
  const round = () => {
    if (running) return;
    running = within(wakeDueTimers(options), SWEEP_BOUND_MS, 'waking the registration timers')
      .then(
        (count) => {
          if (count > 0) logger.debug({ count }, 'registration timers woken');
        },
        (error: unknown) => logger.warn({ err: error }, 'registration timers not woken'),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const interval = setInterval(round, options.intervalMs);
  interval.unref();
  round();
  return {
    async stop() {
      clearInterval(interval);
      await within(running ?? Promise.resolve(), 800, 'the last timer sweep').catch(
        () => undefined,
      );
    },
  };
}
