import type { SubmissionState } from '../lib/esign/schemas.ts';
import type { CallbackSink, SinkOutcome } from '../lib/http/sink.ts';
import { writeJobData } from '../lib/registration/format.ts';
import { jobIds, type CompleteJobData } from '../lib/registration/jobs.ts';
import { activeSpan, inSpan } from '../lib/tracing/tracer.ts';
import type { PartitionSet } from './partitions.ts';

/**
 * Turns an authenticated, valid callback into a `complete` job whose id is the documented
 * idempotency triple (submissionId, status, result). A Redis error propagates, so the listener
 * answers 503 and Esign retries: never acknowledged and then lost.
 *
 * With tracing on, the callback (a trace of its own: Esign sends none of ours) and the
 * registration's trace are linked both ways, and the `complete` job is added inside the
 * registration's trace, so its processing and the published result stay in that one trace.
 */
export function createCallbackSink(partitions: Pick<PartitionSet, 'ofSubmission'>): CallbackSink {
  return {
    async accept(state: SubmissionState): Promise<SinkOutcome> {
      const partition = await partitions.ofSubmission(state.submissionId);
      const registrationId = await partition?.store.findBySubmission(state.submissionId);
      if (!partition || !registrationId) return 'unknown';
      const { tracer, contexts } = partition.tracing;
      const registrationTrace = tracer && (await contexts.find(registrationId));
      const callback = activeSpan(tracer);
      if (registrationTrace) callback.link(registrationTrace);
      const completeQueue = partition.queues.steps.complete;
      const jobId = jobIds.completion(state);
      if (await completeQueue.getJob(jobId)) return 'duplicate';
      const data: CompleteJobData = { registrationId, source: 'callback', state };
      const callbackTrace = callback.traceparent();
      await inSpan(
        tracer,
        'esign.callback.accept',
        {
          parent: registrationTrace,
          links: callbackTrace ? [callbackTrace] : [],
          attributes: { 'esign.registration.id': registrationId },
        },
        () => completeQueue.add('complete', writeJobData(data), { jobId }),
      );
      return 'accepted';
    },
  };
}
