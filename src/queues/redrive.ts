import type { Queue } from 'bullmq';
import { within } from '../lib/deadline.ts';
import type { Logger } from '../lib/logger.ts';
import { writeJobData } from '../lib/registration/format.ts';
import {
  jobIds,
  type PollJobData,
  type StepJobData,
  type StepName,
} from '../lib/registration/jobs.ts';
import { isTerminal, type RegistrationRecord } from '../lib/registration/record.ts';
import type { RegistrationStore } from '../lib/registration/store.ts';
import { inSpan } from '../lib/tracing/tracer.ts';
import type { StepQueues } from './queues.ts';
import { readableRecords, UNREADABLE } from './readable-records.ts';
import type { RedriveLease } from './redrive-lease.ts';
import type { ServiceTracing } from './shared.ts';

/**
 * Re-drive: give every unfinished registration whose step has no live job a fresh one.
 *
 * How one is left without: Redis loses its latest writes (an OS crash under `appendfsync
 * everysec`, a failover) while a worker still runs a job. The job finishes after the restart
 * and BullMQ marks it completed (its lock from before the loss is still there), but the
 * record's progress and the next job it added are gone: the record points at a step whose
 * job is completed (and removed), and nothing would ever add it again or move the record.
 *
 * So one worker process per partition (the lease's holder, redrive-lease.ts) looks, at start
 * and every REDRIVE_INTERVAL_MS, at the registrations holding a user's slot (every unfinished
 * one) that have not changed for REDRIVE_AFTER_MS (a younger one may be between its write and
 * its next job). The step the record is at is expected to have a job that is waiting, active,
 * delayed or prioritized, under its usual id or a re-drive id; otherwise a job is added under
 * `<usual id>-r<record version>`: every worker computes the same id, so two sweeps (the lease
 * changing hands, an old release's worker) add one job. Steps are safe to run twice (the record decides what is done),
 * so a re-drive that was not needed costs one idle run.
 */

export interface RedriveOptions {
  store: RegistrationStore;
  queues: StepQueues;
  /** REDRIVE_AFTER_MS: a record unchanged for less than this is left alone. */
  afterMs: number;
  now: () => number;
  logger: Logger;
  /** With tracing on, a re-driven job continues its registration's trace. */
  tracing?: ServiceTracing | undefined;
}

const liveStates = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

interface Expected {
  step: Exclude<StepName, 'complete'>;
  jobId: string;
  data: StepJobData | PollJobData;
  /** Other jobs that, while live, still carry the registration on (see expectedJob). */
  alsoLive: Array<{ step: StepName; jobId: string }>;
}

/**
 * The job a registration at this record's step must have (complete is not a step of its own).
 * Before confirmation that is its submission job (`initiate` queue), under this generation's
 * id; but the job that carries it on may be one added under an earlier generation of this
 * attempt (a submission job goes on, in-process, past a re-initiation), or an `upload` or
 * `confirm` job an earlier release added: while any of them is live, nothing is missing.
 */
export function expectedJob(record: RegistrationRecord): Expected | undefined {
  const { registrationId, generation } = record;
  const data = { registrationId };
  if (isTerminal(record.status)) return undefined;
  if (record.confirmedAt === undefined) {
    const alsoLive: Expected['alsoLive'] = [];
    for (let earlier = record.attemptGeneration ?? 0; earlier < generation; earlier++)
      alsoLive.push({ step: 'initiate', jobId: jobIds.step('initiate', registrationId, earlier) });
    if (record.submission)
      for (const step of ['upload', 'confirm'] as const)
        alsoLive.push({ step, jobId: jobIds.step(step, registrationId, generation) });
    return {
      step: 'initiate',
      jobId: jobIds.step('initiate', registrationId, generation),
      data,
      alsoLive,
    };
  }
  const attempt = record.pollAttempts + 1;
  return {
    step: 'poll',
    jobId: record.pollJobId ?? jobIds.poll(registrationId, generation, attempt),
    data: { registrationId, attempt },
    alsoLive: [],
  };
}

/** One pass over every unfinished registration; returns how many got a fresh job. */
export async function redriveStranded(options: RedriveOptions): Promise<number> {
  let redriven = 0;
  for await (const registrationIds of options.store.slots.ids())
    for (const record of await readableRecords(
      options.store,
      options.logger,
      registrationIds,
      'not re-driven',
    ))
      if (record && record !== UNREADABLE && (await redriveOne(options, record))) redriven += 1;
  return redriven;
}

async function redriveOne(options: RedriveOptions, record: RegistrationRecord): Promise<boolean> {
  const now = options.now();
  if (now - record.updatedAt < options.afterMs) return false;
  // A poll that waits in the registration's timer (timers.ts) has no job until it is due: it
  // is missing only once it is overdue by as long as any step may be.
  if (record.pollDueAt !== undefined && now - record.pollDueAt < options.afterMs) return false;
  const { registrationId } = record;
  const expected = expectedJob(record);
  if (!expected) return false;
  const queue: Queue = options.queues[expected.step];
  const redriveId = `${expected.jobId}-r${record.version}`;
  const candidates = [
    { step: expected.step, jobId: expected.jobId },
    { step: expected.step, jobId: redriveId },
    ...expected.alsoLive,
  ];
  // Asked all at once: one round trip of latency, not one per candidate.
  const states = await Promise.all(
    candidates.map(({ step, jobId }) => options.queues[step].getJobState(jobId)),
  );
  if (states.some((state) => liveStates.has(state))) return false;
  // A re-drive job of this very version ran and left the record as it was: a new one.
  const used = states[1] !== 'unknown';
  const jobId = used ? `${redriveId}-${options.now()}` : redriveId;
  const { tracer, contexts } = options.tracing ?? {};
  await inSpan(
    tracer,
    'esign.registration.redrive',
    {
      parent: tracer && (await contexts?.find(registrationId)),
      attributes: { 'esign.registration.id': registrationId, 'bullmq.job.id': jobId },
    },
    () => queue.add(expected.step, writeJobData(expected.data), { jobId }),
  );
  options.logger.warn(
    { registrationId, status: record.status, step: expected.step, jobId },
    'registration had no live job for its step (Redis lost recent writes?): re-driven',
  );
  return true;
}

export interface Redriver {
  stop(): Promise<void>;
}

export interface RedriverOptions extends RedriveOptions {
  /** REDRIVE_INTERVAL_MS: how often a round comes; 0: never. */
  intervalMs: number;
  /** Which one process sweeps this partition (redrive-lease.ts). */
  lease: RedriveLease;
  /** Called as this process starts a sweep (tests count them). */
  onSweep?: (() => void) | undefined;
}

/**
 * A round at start and every `intervalMs`: claim the partition's lease (taken, renewed or
 * refused), and sweep only when this process holds it, so one process sweeps a partition per
 * interval whatever the number of workers. At start, a process that finds the lease free (no
 * live holder: a fresh start, Redis rolled back) takes it and sweeps at once; a live holder
 * sweeps within an interval anyway. One sweep at a time, each bounded by `intervalMs` (at
 * least 10 s): a sweep that outlives it (Redis unreachable) is abandoned and the next one
 * starts over. Rounds go on claiming during a long sweep, so its lease does not lapse under
 * it. A failed claim or sweep is logged and the next round tries again: never thrown.
 */
export function startRedriver(options: RedriverOptions): Redriver {
  if (options.intervalMs <= 0) return { stop: () => Promise.resolve() };
  const { lease, logger } = options;
  const boundMs = Math.max(options.intervalMs, 10_000);
  let running: Promise<void> | undefined;
  let claiming: Promise<void> | undefined;
  let stopped = false;
  const sweep = () => {
    options.onSweep?.();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, boundMs);
    });
    const pass = redriveStranded(options).then(
      (count) => {
        if (count > 0) logger.info({ count }, 're-drive sweep done');
      },
      (error: unknown) => logger.warn({ err: error }, 're-drive sweep failed'),
    );
    running = Promise.race([pass, bound]).finally(() => {
      clearTimeout(timer);
      running = undefined;
    });
  };
  const round = () => {
    if (claiming || stopped) return;
    claiming = within(lease.claim(), boundMs, 'claiming the re-drive lease')
      .then(
        (held) => {
          if (held && !running && !stopped) sweep();
        },
        (error: unknown) =>
          logger.warn({ err: error }, 're-drive lease not claimed: this round is skipped'),
      )
      .finally(() => {
        claiming = undefined;
      });
  };
  const interval = setInterval(round, options.intervalMs);
  interval.unref();
  round();
  return {
    async stop() {
      stopped = true;
      clearInterval(interval);
      // A sweep stuck on an unreachable Redis must not hold up shutdown: it ends with the
      // connection, and the next start sweeps again. Then the lease is given up (if still
      // ours) so another process sweeps at its next round, not once it lapses.
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 800);
      });
      await Promise.race([Promise.all([claiming, running]), grace]);
      clearTimeout(timer);
      await within(lease.release(), 200, 'releasing the re-drive lease').catch((error: unknown) =>
        logger.warn({ err: error }, 're-drive lease not released'),
      );
    },
  };
}
