import { jobIds } from '../lib/registration/jobs.ts';
import { attemptOf, isTerminal } from '../lib/registration/record.ts';
import { eraseRecord } from '../lib/registration/scrub.ts';
import { endRegistration, markPublished } from '../lib/registration/transitions.ts';
import { resultJobOptions } from './queues.ts';
import type { SharedServices } from './shared.ts';

export type EraseOutcome = 'erased' | 'unknown';

const ERASED = { code: 'ERASED', message: 'the registration was erased on request' };

/**
 * `esign-worker erase <id>`: one registration's data gone on request, a tombstone left
 * (scrub.ts, eraseRecord). A registration still running is ended first (FAILED, ERASED) and
 * its result published, so the enqueuing service still hears back; then its images, upload
 * URLs, sealed request, submission index, user slot, pending jobs and the result job the
 * consumer already took go. Safe to repeat. Needs no PII key: nothing is opened.
 */
export async function eraseRegistration(
  services: SharedServices,
  registrationId: string,
): Promise<EraseOutcome> {
  const { store, queues, imageStore, now } = services;
  let record = await store.get(registrationId);
  if (!record) return 'unknown';
  if (!isTerminal(record.status))
    record = await store.update(registrationId, (current) => {
      const ended = endRegistration(
        current,
        { status: 'FAILED', source: 'worker', error: ERASED },
        now(),
      );
      return ended === current ? undefined : ended;
    });
  const attempt = attemptOf(record);
  const resultJobId = jobIds.result(registrationId, attempt);
  const published = record.history.some(
    (entry) => entry.status === record?.status && entry.published,
  );
  if (record.result && !published && !record.erasedAt) {
    await queues.results.add('result', record.result, resultJobOptions(registrationId, attempt));
    record = await store.update(registrationId, (current) => {
      const next = markPublished(current);
      return next === current ? undefined : next;
    });
  } else {
    // Taken by the consumer already: its copy in Redis goes; a waiting one is left to deliver.
    const job = await queues.results.getJob(resultJobId);
    if (job && ((await job.isCompleted()) || (await job.isFailed()))) await job.remove();
  }
  for (const [queue, jobId] of [
    [queues.steps.complete, jobIds.deadline(registrationId, attempt)],
    ...(record.pollJobId ? [[queues.steps.poll, record.pollJobId] as const] : []),
  ] as const)
    await queue.remove(jobId).catch(() => 0);
  await store.timers.remove(registrationId);
  if (record.partnerUserId) await store.slots.release(record);
  const submissionIds = [
    ...(record.submission ? [record.submission.submissionId] : []),
    ...record.previousSubmissionIds,
  ];
  await store.submissions.drop(submissionIds, registrationId);
  await imageStore.delete(registrationId);
  await store.update(registrationId, (current) =>
    current.erasedAt === undefined ? eraseRecord(current, now()) : undefined,
  );
  return 'erased';
}
