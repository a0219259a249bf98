import type { SubmissionState } from '../lib/esign/schemas.ts';
import type { CallbackSink, SinkOutcome } from '../lib/http/sink.ts';
import { writeJobData } from '../lib/registration/format.ts';
import { jobIds, type CompleteJobData } from '../lib/registration/jobs.ts';
import type { PartitionSet } from './partitions.ts';

/**
 * Turns an authenticated, valid callback into a `complete` job whose id is the documented
 * idempotency triple (submissionId, status, result). A Redis error propagates, so the listener
 * answers 503 and Esign retries: never acknowledged and then lost.
 */
export function createCallbackSink(partitions: Pick<PartitionSet, 'ofSubmission'>): CallbackSink {
  return {
    async accept(state: SubmissionState): Promise<SinkOutcome> {
      const partition = await partitions.ofSubmission(state.submissionId);
      const registrationId = await partition?.store.findBySubmission(state.submissionId);
      if (!partition || !registrationId) return 'unknown';
      const completeQueue = partition.queues.steps.complete;
      const jobId = jobIds.completion(state);
      if (await completeQueue.getJob(jobId)) return 'duplicate';
      const data: CompleteJobData = { registrationId, source: 'callback', state };
      await completeQueue.add('complete', writeJobData(data), { jobId });
      return 'accepted';
    },
  };
}
