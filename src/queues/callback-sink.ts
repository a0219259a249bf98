import type { SubmissionState } from '../lib/esign/schemas.ts';
import type { CallbackSink, SinkOutcome } from '../lib/http/sink.ts';
import { writeJobData } from '../lib/registration/format.ts';
import { jobIds, type CompleteJobData } from '../lib/registration/jobs.ts';
import { isFinalReport, recordProgress } from '../lib/registration/progress.ts';
import { answersOf } from '../lib/redis-exec.ts';
import { activeSpan, inSpan } from '../lib/tracing/tracer.ts';
import { addIndexedCompletion } from './completion-add.ts';
import type { Logger } from '../lib/logger.ts';
import type { PartitionSet } from './partitions.ts';
import type { SharedServices } from './shared.ts';

/**
 * Turns an authenticated, valid callback that ends the registration (COMPLETED, ERROR) into a
 * `complete` job whose id is the documented idempotency triple (submissionId, status, result):
 * adding it again is a no-op, so nothing is read first; progress is written to the record
 * (acceptProgress, below). A Redis error propagates, so the listener answers 503 and Esign retries:
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
      if (!isFinalReport(state)) return acceptProgress(partition, state, logger);
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

/**
 * Progress (a status that does not end the registration) is written to the record here, not
 * queued: a job would cost about 50 Redis commands to record what one compare-and-set does
 * (`recordProgress`: the submission's registration and its record in one read, and a write only
 * when the status moves forward). Answered once
 * written, so a Redis error still means 503 and Esign's retry.
 */
async function acceptProgress(
  partition: SharedServices,
  state: SubmissionState,
  logger: Logger | undefined,
): Promise<SinkOutcome> {
  const found = await partition.store.getBySubmission(state.submissionId);
  if (!found?.record) return 'unknown';
  const { registrationId, record } = found;
  const outcome = await inAcceptSpan(partition, registrationId, () =>
    recordProgress(partition.store, registrationId, state, 'callback', partition.now, record),
  );
  if (outcome === 'missing') return 'unknown';
  if (outcome === 'not-ours')
    logger?.warn(
      { registrationId, submissionId: state.submissionId },
      'report for a replaced submission ignored',
    );
  if (outcome === 'progressed')
    logger?.info(
      { registrationId, status: state.status, result: state.result, source: 'callback' },
      'registration progressed',
    );
  return outcome === 'unchanged' ? 'duplicate' : 'accepted';
}

/**
 * With tracing on, the callback (a trace of its own: Esign sends none of ours) and the
 * registration's trace are linked both ways, and `work` runs inside the registration's trace.
 */
async function inAcceptSpan<T>(
  partition: SharedServices,
  registrationId: string,
  work: () => Promise<T>,
): Promise<T> {
  const { tracer, contexts } = partition.tracing;
  if (!tracer) return work();
  const registrationTrace = await contexts.find(registrationId);
  const callback = activeSpan(tracer);
  if (registrationTrace) callback.link(registrationTrace);
  const callbackTrace = callback.traceparent();
  return inSpan(
    tracer,
    'esign.callback.accept',
    {
      parent: registrationTrace,
      links: callbackTrace ? [callbackTrace] : [],
      attributes: { 'esign.registration.id': registrationId },
    },
    work,
  );
}

/** The registration looked up first, then `Queue.add`: with tracing, or if the script cannot. */
async function acceptInSteps(partition: SharedServices, state: SubmissionState) {
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
  const data: CompleteJobData = { registrationId, source: 'callback', state };
  await inAcceptSpan(partition, registrationId, () =>
    completeQueue.add('complete', writeJobData(data), { jobId }),
  );
  return existed === 1 ? 'duplicate' : 'accepted';
}
