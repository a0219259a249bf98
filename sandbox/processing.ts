import { randomUUID } from 'node:crypto';
import type { Logger } from '../src/lib/logger.ts';
import type { CallbackSender } from './callbacks.ts';
import type { FaultState } from './faults.ts';
import { stepsFor, type ScenarioStep } from './scenarios.ts';
import { stateBody, type Submission, type SubmissionStateBody } from './submissions.ts';

/**
 * Asynchronous processing after confirm: the submission goes IN_PROGRESS at once, then
 * walks its scenario's steps `processingMs` apart, sending a callback for each reported
 * step. Timers are tracked so close() leaves nothing running.
 */

export class Processor {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly processingMs: number;
  private readonly callbacks: CallbackSender;
  private readonly faults: FaultState;
  private readonly logger: Logger;
  private readonly now: () => number;

  constructor(deps: {
    processingMs: number;
    callbacks: CallbackSender;
    faults: FaultState;
    logger: Logger;
    now: () => number;
  }) {
    this.processingMs = deps.processingMs;
    this.callbacks = deps.callbacks;
    this.faults = deps.faults;
    this.logger = deps.logger;
    this.now = deps.now;
  }

  /** Starts processing a just-confirmed submission whose scenario is set. */
  start(submission: Submission): void {
    if (!submission.scenario) return;
    const steps = stepsFor(submission.scenario);
    const plan = this.faults.callbackPlan();
    /** A PARTIALLY_COMPLETED body held back while callbackReorder is on, sent after the next one. */
    let held: SubmissionStateBody | undefined;
    const run = (index: number): void => {
      const step = steps[index];
      if (!step) return;
      this.apply(submission, step);
      if (step.callback) {
        const body = stateBody(submission);
        const options = { dropped: plan.dropAll, duplicate: plan.duplicateAll };
        const later = steps[index + 1];
        if (
          this.faults.callbackReorder &&
          later?.callback &&
          step.status === 'PARTIALLY_COMPLETED'
        ) {
          held = body;
        } else {
          this.callbacks.enqueue(body, options);
          if (held) this.callbacks.enqueue(held, options);
          held = undefined;
        }
      }
      if (index + 1 < steps.length) this.schedule(() => run(index + 1));
    };
    run(0);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private schedule(task: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      task();
    }, this.processingMs);
    this.timers.add(timer);
  }

  private apply(submission: Submission, step: ScenarioStep): void {
    submission.status = step.status;
    submission.result = step.result;
    submission.reasonCode = step.reasonCode;
    submission.verificationResult = step.verificationResult;
    if (step.withRegistrationId) submission.registrationId ??= randomUUID();
    if (step.status !== 'IN_PROGRESS') submission.processedAt = new Date(this.now()).toISOString();
    this.logger.debug(
      { submissionId: submission.submissionId, status: step.status, result: step.result },
      'sandbox submission processed',
    );
  }
}
