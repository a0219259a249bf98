import { PauseLedger } from '../lib/pause-ledger.ts';
import type { StepName } from '../lib/registration/jobs.ts';
import type { SharedServices } from './shared.ts';

/**
 * `esign-worker pause` / `resume`: BullMQ's Queue.pause()/resume(), which hold or release a
 * queue for every worker at once (active jobs finish; waiting and delayed ones wait), plus the
 * pause ledger, so the time paused is left out of the registrations' deadlines (the poll's
 * give-up). The ledger is opened before the queue pauses and closed after it resumes: a crash
 * in between counts a little too much time as paused, never too little, and the next `resume`
 * closes what it left open.
 */
export async function pauseSteps(services: SharedServices, steps: readonly StepName[]) {
  await new PauseLedger(services.redis, services.prefix).open(steps, services.now());
  for (const step of steps) await services.queues.steps[step].pause();
}

export async function resumeSteps(services: SharedServices, steps: readonly StepName[]) {
  for (const step of steps) await services.queues.steps[step].resume();
  await new PauseLedger(services.redis, services.prefix).close(steps, services.now());
}

export interface StepPauseState {
  step: StepName;
  paused: boolean;
  /** When its pause began, as the ledger has it (null: not paused, or paused by other means). */
  since: string | null;
}

export async function pauseStates(
  services: SharedServices,
  steps: readonly StepName[],
): Promise<StepPauseState[]> {
  const open = await new PauseLedger(services.redis, services.prefix).openPauses();
  return Promise.all(
    steps.map(async (step) => {
      const since = open[step];
      return {
        step,
        paused: await services.queues.steps[step].isPaused(),
        since: since === undefined ? null : new Date(since).toISOString(),
      };
    }),
  );
}
