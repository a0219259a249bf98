import type { Queue } from 'bullmq';
import { jobIds, RESULTS_QUEUE, type StepName } from '../lib/registration/jobs.ts';
import { attemptOf, type RegistrationRecord } from '../lib/registration/record.ts';
import type { PipelineQueues } from './queues.ts';

/**
 * The BullMQ jobs of one registration (`esign-worker inspect`). Step jobs carry only the
 * registration id, so they are found by their deterministic ids (lib/registration/jobs.ts),
 * not by a scan: every generation's initiate/upload/confirm and timeout, its polls, the
 * completions of each of its submissions, and one result per attempt. A step job is removed
 * as soon as it completes (the record's history says what it did), a failed one after 14
 * days, a consumed result after an hour: what is gone is simply not listed.
 */
export interface JobSummary {
  queue: StepName | typeof RESULTS_QUEUE;
  id: string;
  state: string;
  attemptsMade: number;
  failedReason: string | null;
  createdAt: string;
  finishedAt: string | null;
}

/** Esign's statuses a completion job can be keyed by, and its results ('NONE': none). */
const completionStatuses = ['IN_PROGRESS', 'PARTIALLY_COMPLETED', 'COMPLETED', 'ERROR'] as const;
const completionResults = ['VALID', 'INVALID', null] as const;
/** A poll chain longer than this is not followed (POLL_GIVE_UP_MS ends it long before). */
const MAX_POLLS = 1_000;

export async function registrationJobs(
  queues: PipelineQueues,
  record: RegistrationRecord,
): Promise<JobSummary[]> {
  const { registrationId: id } = record;
  const wanted: [Queue, string][] = [];
  for (let generation = 0; generation <= record.generation; generation += 1) {
    for (const step of ['initiate', 'upload', 'confirm'] as const)
      wanted.push([queues.steps[step], jobIds.step(step, id, generation)]);
  }
  const submissions = [...record.previousSubmissionIds];
  if (record.submission) submissions.push(record.submission.submissionId);
  for (const submissionId of submissions)
    for (const status of completionStatuses)
      for (const result of completionResults)
        wanted.push([queues.steps.complete, jobIds.completion({ submissionId, status, result })]);
  for (let generation = 0; generation <= record.generation; generation += 1)
    wanted.push([queues.steps.complete, jobIds.timeout(id, generation)]);
  // Attempt 1's result was `<id>-result` before results were numbered.
  wanted.push([queues.results, `${id}-result`]);
  for (let attempt = 1; attempt <= attemptOf(record); attempt += 1)
    wanted.push([queues.results, jobIds.result(id, attempt)]);

  const found = await Promise.all(wanted.map(([queue, jobId]) => summarize(queue, jobId)));
  // Each poll schedules the next; the current generation's count is in the record, an
  // earlier one's chain is followed to its first gap.
  const polls: JobSummary[] = [];
  for (let generation = 0; generation <= record.generation; generation += 1) {
    const current = generation === record.generation;
    const last = current ? record.pollAttempts + 1 : MAX_POLLS;
    for (let attempt = 1; attempt <= last; attempt += 1) {
      const poll = await summarize(queues.steps.poll, jobIds.poll(id, generation, attempt));
      if (poll) polls.push(poll);
      else if (!current) break;
    }
  }
  return [...found.filter((job) => job !== undefined), ...polls].sort((a, b) =>
    a.createdAt.localeCompare(b.createdAt),
  );
}

async function summarize(queue: Queue, jobId: string): Promise<JobSummary | undefined> {
  const job = await queue.getJob(jobId);
  if (!job) return undefined;
  const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);
  return {
    queue: queue.name as JobSummary['queue'],
    id: jobId,
    state: await job.getState(),
    attemptsMade: job.attemptsMade,
    failedReason: job.failedReason || null,
    createdAt: new Date(job.timestamp).toISOString(),
    finishedAt: iso(job.finishedOn),
  };
}
