import type { SubmissionState } from '../esign/schemas.ts';
import { isTerminal, statusRank, type RegistrationRecord, type ResultSource } from './record.ts';

/**
 * The step queues, in flow order, and the outbound results queue. `initiate` is the
 * submission queue: one job there runs initiate, upload and confirm in turn (processors/
 * submit.ts). `upload` and `confirm` get no new jobs; they stay so the jobs an earlier release
 * put there are still run (by the same processor) and shown by the ops commands and the UI.
 */
export const stepNames = ['initiate', 'upload', 'confirm', 'poll', 'complete'] as const;
export type StepName = (typeof stepNames)[number];
export const RESULTS_QUEUE = 'results' as const;

/** The steps of the submission phase, run in order within one job. */
export const submissionSteps = ['initiate', 'upload', 'confirm'] as const;
export type SubmissionStep = (typeof submissionSteps)[number];
export const SUBMISSION_QUEUE = 'initiate' satisfies StepName;

/**
 * The submission step a record is at, from the record alone: no submission yet → initiate;
 * both images uploaded (UPLOADED, or a callback's status past it when the confirm's answer was
 * lost) → confirm; otherwise upload. A record already confirmed (adopted, maybe
 * before its uploads) or ended goes to initiate, which only schedules the poll or settles it.
 */
export function submissionStepOf(record: RegistrationRecord): SubmissionStep {
  if (!record.submission || record.confirmedAt !== undefined || isTerminal(record.status))
    return 'initiate';
  return statusRank(record.status) >= statusRank('UPLOADED') ? 'confirm' : 'upload';
}

/** Step jobs carry only a pointer: the record holds everything else. */
export interface StepJobData {
  registrationId: string;
}

/** A completion: what Esign reported (callback or poll), or our own timeout. */
export interface CompleteJobData {
  registrationId: string;
  source: ResultSource;
  state?: SubmissionState | undefined;
  timedOut?: boolean | undefined;
  /**
   * Our own timeout's attempt (the deadline's, the poll's give-up): one for another attempt
   * (a job left from before a retry) changes nothing. Absent on jobs of the release before.
   */
  attempt?: number | undefined;
}

/** Polls count their attempt, so the next poll's id is deterministic too. */
export interface PollJobData extends StepJobData {
  attempt: number;
  /**
   * The submission generation it polls for: a poll left from an earlier one (before a retry
   * or a new submission) changes nothing. Absent on jobs of the release before.
   */
  generation?: number | undefined;
}

export type JobData<S extends StepName> = S extends 'complete'
  ? CompleteJobData
  : S extends 'poll'
    ? PollJobData
    : StepJobData;

/**
 * Deterministic job ids, so a replayed enqueue is a no-op. `generation` counts new
 * submissions after expired upload URLs, so a re-initiation gets fresh ids. BullMQ forbids
 * ":" in ids, hence "-".
 */
export const jobIds = {
  step(
    step: 'initiate' | 'upload' | 'confirm',
    registrationId: string,
    generation: number,
  ): string {
    return `${registrationId}-${step}-g${generation}`;
  },
  poll(registrationId: string, generation: number, attempt: number): string {
    return `${registrationId}-poll-g${generation}-${attempt}`;
  },
  /** The documented idempotency triple: one completion per (submissionId, status, result). */
  completion(state: SubmissionState): string {
    return `${state.submissionId}-${state.status}-${state.result ?? 'NONE'}`;
  },
  /** The registration's deadline: a delayed completion that ends it TIMED_OUT. */
  deadline(registrationId: string, attempt: number): string {
    return `${registrationId}-deadline-a${attempt}`;
  },
  timeout(registrationId: string, generation: number): string {
    return `${registrationId}-timeout-g${generation}`;
  },
  /**
   * One result per attempt: `<registrationId>-<attempt>`, the documented dedupe key (README,
   * "Results"). Before retries existed it was `<registrationId>-result`; both can be on the
   * queue during the deploy that changes it, and consumers dedupe on the key, not the job id.
   */
  result(registrationId: string, attempt: number): string {
    return `${registrationId}-${attempt}`;
  },
};
