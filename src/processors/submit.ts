import { permanent } from '../lib/errors.ts';
import {
  submissionStepOf,
  submissionSteps,
  type StepJobData,
  type SubmissionStep,
} from '../lib/registration/jobs.ts';
import type { RegistrationRecord } from '../lib/registration/record.ts';
import { confirm } from './confirm.ts';
import type { StepContext, StepOutcome } from './context.ts';
import { initiate } from './initiate.ts';
import { upload } from './upload.ts';

const steps = { initiate, upload, confirm } satisfies Record<
  SubmissionStep,
  (data: StepJobData, ctx: StepContext, known?: RegistrationRecord) => Promise<StepOutcome>
>;

/**
 * How the adapter runs one step of a submission job: its per-step concurrency gate, duration
 * metric and span around `run` (queues/step-gates.ts), telling it whether it waited for its
 * slot. Waiting for the gate ends with `signal`.
 */
export type StepGate = <T>(
  step: SubmissionStep,
  run: (waited: boolean) => Promise<T>,
) => Promise<T>;

/**
 * The submission phase as one job: initiate, upload, confirm in turn, starting wherever the
 * record says (submissionStepOf) and handing over in-process instead of through a job per step.
 * Each step writes its progress to the record (compare-and-set) before the next starts, and the
 * next starts from the record as written (read again only after a wait for its slot): the
 * record is the checkpoint, so a crash, a retry or a second run resumes at the step it shows,
 * and every step stays safe to run twice. Whatever is not the next submission step in-process
 * (the fallback poll, a wait, the end) is returned for the adapter, as a step's outcome was.
 *
 * The same processor consumes the `upload` and `confirm` jobs an earlier release left: it looks
 * at the record, not at the queue.
 *
 * Between steps a draining worker (shutdown) stops: the job waits (no attempt used) and is
 * taken up again from the record, so a shutdown does not wait for a whole submission.
 */
export async function submit(
  data: StepJobData,
  ctx: StepContext,
  gate: StepGate,
): Promise<StepOutcome> {
  // The record just read, then as each step wrote it: a step reads it itself only when the
  // step before did not say (a checkpoint is the record in Redis either way).
  let record: RegistrationRecord | undefined = await ctx.store.require(data.registrationId);
  let step = submissionStepOf(record);
  // Each generation takes at most initiate → upload → confirm, and a re-run of a step found
  // out of date; generations are bounded by MAX_REINITIATIONS (REINITIATION_LIMIT).
  const maxSteps = 4 * (ctx.settings.maxReinitiations + 2);
  for (let run = 1; ; run++) {
    const current: SubmissionStep = step;
    const known = record;
    // After a wait for the step's slot the record may have moved on: the step reads it.
    const outcome: StepOutcome = await gate(current, async (waited) => {
      // Shutdown began while this job queued for the slot: hand it back rather than start a
      // step (an initiate would create a submission only to be cut off at the grace).
      if (waited && ctx.draining?.()) return { next: [], waitUntil: ctx.now() };
      return steps[current](data, ctx, waited ? undefined : known);
    });
    const next = inProcess(outcome);
    if (!next) return outcome;
    if (run >= maxSteps)
      throw permanent(
        'INTERNAL',
        `registration ${data.registrationId}: the submission did not settle after ${run} steps`,
      );
    if (ctx.draining?.()) return { next: [], waitUntil: ctx.now() };
    step = next;
    record = outcome.record;
  }
}

/** The next submission step when that is all the outcome asks for, else undefined. */
function inProcess(outcome: StepOutcome): SubmissionStep | undefined {
  if (outcome.waitUntil !== undefined || outcome.next.length !== 1) return undefined;
  const [job] = outcome.next;
  if (!job || (job.delayMs ?? 0) > 0) return undefined;
  return (submissionSteps as readonly string[]).includes(job.step)
    ? (job.step as SubmissionStep)
    : undefined;
}
