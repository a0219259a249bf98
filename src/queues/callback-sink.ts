import type { Queue } from 'bullmq';
import type { SubmissionState } from '../lib/esign/schemas.ts';
import type { CallbackSink, SinkOutcome } from '../lib/http/sink.ts';
import type { RegistrationStore } from '../lib/registration/store.ts';
import { writeJobData } from '../lib/registration/format.ts';
import { jobIds, type CompleteJobData } from '../lib/registration/jobs.ts';

/**
 * Turns an authenticated, valid callback into a `complete` job whose id is the documented
 * idempotency triple (submissionId, status, result). A Redis error propagates, so the listener
 * answers 503 and Esign retries: never acknowledged and then lost.
 */
export function createCallbackSink(store: RegistrationStore, completeQueue: Queue): CallbackSink {
  return {
    async accept(state: SubmissionState): Promise<SinkOutcome> {
      const registrationId = await store.findBySubmission(state.submissionId);
      if (!registrationId) return 'unknown';
      const jobId = jobIds.completion(state);
      if (await completeQueue.getJob(jobId)) return 'duplicate';
      const data: CompleteJobData = { registrationId, source: 'callback', state };
      await completeQueue.add('complete', writeJobData(data), { jobId });
      return 'accepted';
    },
  };
}
