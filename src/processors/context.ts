import type { EsignClient } from '../lib/esign/types.ts';
import type { ImagePolicy } from '../lib/images/index.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { PiiCipher } from '../lib/pii-cipher.ts';
import type { RegistrationRecord, RegistrationResult } from '../lib/registration/record.ts';
import type { ImageStore } from '../lib/registration/image-store.ts';
import type { RegistrationStore } from '../lib/registration/store.ts';
import type { JobData, StepName } from '../lib/registration/jobs.ts';

/** Tunables the steps need (from PipelineConfig; see docs/configuration.md). */
export interface StepSettings {
  maxReinitiations: number;
  callbackTimeoutMs: number;
  pollIntervalMs: number;
  pollMaxIntervalMs: number;
  pollGiveUpMs: number;
  /**
   * How long after its claim a confirm may still reach Esign (CONFIRM_LEASE_MS). Until then
   * another run waits instead of asking Esign or re-sending.
   */
  confirmLeaseMs: number;
  /** When a confirm call is abandoned, from its claim (connect + request timeout). */
  confirmCallMs: number;
}

/**
 * Everything a step may use. Processors never touch bullmq, ioredis or undici: they read and
 * write the record through `store`, talk to Esign through `esign`, and say what comes next
 * by returning a StepOutcome.
 */
export interface StepContext {
  esign: EsignClient;
  store: RegistrationStore;
  /** Inline images, sealed, apart from the record; deleted once both are uploaded. */
  imageStore: ImageStore;
  cipher: PiiCipher;
  images: ImagePolicy;
  settings: StepSettings;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  signal: AbortSignal;
  /**
   * True once the worker is shutting down: a submission job stops between its steps (the
   * record holds its progress) instead of starting the next one. Absent: never.
   */
  draining?: (() => boolean) | undefined;
  /** How long within [from, to] any step queue was paused (`esign-worker pause`): not counted. */
  pausedWithin(from: number, to: number): Promise<number>;
  /** Put a terminal result on the results queue, once per attempt. */
  publishResult(result: RegistrationResult): Promise<void>;
  /** Remove a waiting/delayed job if it is still there (e.g. the pending poll). */
  cancelJob(step: StepName, jobId: string): Promise<void>;
}

export interface NextJob<S extends StepName = StepName> {
  step: S;
  jobId: string;
  data: JobData<S>;
  delayMs?: number | undefined;
}

/**
 * What a step asks for next: zero or more jobs, which the adapter enqueues; or, with
 * `waitUntil` (epoch ms), to run this same job again then, without using an attempt.
 */
export interface StepOutcome {
  next: NextJob[];
  waitUntil?: number | undefined;
  /**
   * The record as this step wrote it, when it hands over to the next submission step: that
   * step, run in the same job, starts from it instead of reading it again.
   */
  record?: RegistrationRecord | undefined;
}

export const done: StepOutcome = { next: [] };

export function proceed(...jobs: NextJob[]): StepOutcome {
  return { next: jobs };
}

/** Run this job again at `at` (e.g. once a lease has ended); it keeps its attempts. */
export function waitUntil(at: number): StepOutcome {
  return { next: [], waitUntil: at };
}
