import type { Metrics } from '../lib/metrics.ts';
import { submissionSteps, type SubmissionStep } from '../lib/registration/jobs.ts';
import { Semaphore } from '../lib/semaphore.ts';
import { inSpan, type Tracer } from '../lib/tracing/tracer.ts';
import type { StepGate } from '../processors/submit.ts';

/**
 * The per-step limits of the submission phase, now that initiate, upload and confirm run in one
 * job (processors/submit.ts): at most CONCURRENCY_<STEP> of each step at once in this process
 * (per partition), whichever queue's job runs it. A job waiting for a step's slot holds
 * none of the others, so the steps form a pipeline, not a deadlock. Each step is timed
 * (esign_worker_step_duration_seconds, without the wait) and traced as `esign.step.<step>`.
 */
export function stepGates(
  concurrency: Record<SubmissionStep, number>,
  metrics: Metrics,
  tracer: Tracer | undefined,
): (signal: AbortSignal) => StepGate {
  const semaphores = Object.fromEntries(
    submissionSteps.map((step) => [step, new Semaphore(concurrency[step])]),
  ) as Record<SubmissionStep, Semaphore>;
  return (signal) =>
    <T>(step: SubmissionStep, run: (waited: boolean) => Promise<T>) =>
      semaphores[step].run(signal, (waited) =>
        inSpan(tracer, `esign.step.${step}`, { attributes: { 'esign.step': step } }, async () => {
          const stop = metrics.stepDuration.startTimer({ step });
          try {
            return await run(waited);
          } finally {
            stop();
          }
        }),
      );
}
