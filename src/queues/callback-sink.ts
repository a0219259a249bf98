import type { SubmissionState } from '../lib/esign/schemas.ts';
import type { CallbackSink, SinkOutcome } from '../lib/http/sink.ts';
import { writeJobData } from '../lib/registration/format.ts';
import { jobIds, type CompleteJobData } from '../lib/registration/jobs.ts';
import { answersOf } from '../lib/redis-exec.ts';
import { activeSpan, inSpan } from '../lib/tracing/tracer.ts';
import { addIndexedCompletion } from './completion-add.ts';
import type { Logger } from '../lib/logger.ts';
import type { PartitionSet } from './partitions.ts';
import type { SharedServices } from './shared.ts';

/**
 * Turns an authenticated, valid callback into a `complete` job whose id is the documented
 * idempotency triple (submissionId, status, result): adding it again is a no-op, so nothing
 * is read first. A Redis error propagates, so the listener answers 503 and Esign retries:
 * never acknowledged and then lost.
 *
 * Without tracing, that is one round trip to Redis (completion-add.ts: the submission looked
 * up and the job added by one script; nothing added for an unknown submission). With tracing
 * on, the callback (a trace of its own: Esign sends none of ours) and the registration's trace
 * are linked both ways, and the `complete` job is added by `Queue.add` inside the
 * registration's trace, so its processing and the published result stay in that one trace:
 * that takes the registration id and its trace first (two more round trips). The same steps,
 * without the trace, are the way back if BullMQ is not as the script expects.
 */
export function createCallbackSink(
  partitions: Pick<PartitionSet, 'ofSubmission'>,
  logger?: Logger,
): CallbackSink {
  let warned = false;
  return {
    async accept(state: SubmissionState): Promise<SinkOutcome> {
      const partition = await partitions.ofSubmission(state.submissionId);
      if (!partition) return 'unknown';
      if (!partition.tracing.tracer) {
        const added = await addIndexedCompletion(
          partition.redis,
          partition.queues.steps.complete,
          partition.store.submissions.key(state.submissionId),
          jobIds.completion(state),
          { source: 'callback', state },
        );
        if (added) return added.kind;
        if (!warned)
          logger?.warn('callbacks taken in steps: BullMQ is not as completion-add.ts expects');
        warned = true;
      }
      return acceptInSteps(partition, state);
    },
  };
}

/** The registration looked up first, then `Queue.add`: with tracing, or if the script cannot. */
async function acceptInSteps(partition: SharedServices, state: SubmissionState) {
  const { tracer, contexts } = partition.tracing;
  const completeQueue = partition.queues.steps.complete;
  const jobId = jobIds.completion(state);
  // One round trip: who has the submission, and whether this completion is already queued
  // (a hint for the outcome only: the add below is a no-op for an existing id either way).
  const replies = await answersOf(
    partition.redis
      .pipeline()
      .get(partition.store.submissions.key(state.submissionId))
      .exists(completeQueue.toKey(jobId))
      .exec(),
    'the submission look-up',
  );
  const registrationId = replies[0]?.[1] as string | null;
  const existed = replies[1]?.[1] as number;
  if (!registrationId) return 'unknown';
  const registrationTrace = tracer ? await contexts.find(registrationId) : undefined;
  const callback = activeSpan(tracer);
  if (registrationTrace) callback.link(registrationTrace);
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
  return existed === 1 ? 'duplicate' : 'accepted';
}
