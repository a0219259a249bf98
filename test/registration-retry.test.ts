import { queuedRecord } from './support/records.ts';
import { describe, expect, it } from 'vitest';
import { overlap } from '../src/lib/pause-ledger.ts';
import { jobIds } from '../src/lib/registration/jobs.ts';
import type { RegistrationRecord } from '../src/lib/registration/record.ts';
import { retryRefusal, retryRegistration } from '../src/lib/registration/retry.ts';
import {
  attachSubmission,
  endRegistration,
  markPublished,
} from '../src/lib/registration/transitions.ts';

/** The retry transition and the pause arithmetic, without Redis. */

const T0 = Date.UTC(2025, 0, 1);

const queued: RegistrationRecord = queuedRecord(T0);
const documents = {
  KTP: { url: 'https://storage.test/k', reference: 'k', expiresAt: T0 + 900_000 },
  SELFIE: { url: 'https://storage.test/s', reference: 's', expiresAt: T0 + 900_000 },
};
const initiated = attachSubmission(queued, { submissionId: 'sub-1', documents }, T0 + 1);
const failed = endRegistration(
  initiated,
  { status: 'FAILED', source: 'worker', error: { code: 'ESIGN_REJECTED', message: 'no' } },
  T0 + 2,
);
const published = markPublished(failed);
const input = { sealedRequest: 'sealed-again', imageKinds: { ktp: 'base64', selfie: 'path' } };

describe('retryRegistration', () => {
  it('starts attempt 2 from scratch under the next generation, keeping the history', () => {
    // Attempt 1 had paused time credited to its deadline: attempt 2 has a deadline of its own.
    const next = retryRegistration({ ...published, pauseCreditMs: 5_000 }, input, T0 + 10);
    expect(next).toStrictEqual({
      ...published,
      pauseCreditMs: undefined,
      status: 'QUEUED',
      attempt: 2,
      enqueuedAt: T0 + 10,
      generation: 1,
      attemptGeneration: 1,
      submission: undefined,
      previousSubmissionIds: ['sub-1'],
      confirmingAt: undefined,
      confirmingUntil: undefined,
      confirmedAt: undefined,
      pollAttempts: 0,
      pollJobId: undefined,
      lastState: undefined,
      result: undefined,
      error: undefined,
      sealedRequest: 'sealed-again',
      imageKinds: input.imageKinds,
      history: [
        ...published.history,
        { status: 'QUEUED', at: T0 + 10, source: 'worker', attempt: 2 },
      ],
    });
    // Fresh step job ids, and the result of attempt 2 has its own job id.
    expect(jobIds.step('initiate', 'reg-1', next.generation)).toBe('reg-1-initiate-g1');
    expect(jobIds.result('reg-1', 2)).toBe('reg-1-2');
  });

  it('an attempt that ends carries its number into the result', () => {
    const second = retryRegistration(published, input, T0 + 10);
    const ended = endRegistration(second, { status: 'TIMED_OUT', source: 'poll' }, T0 + 20);
    expect(ended.result).toMatchObject({ attempt: 2, status: 'TIMED_OUT' });
    expect(ended.result?.enqueuedAt).toBe(new Date(T0 + 10).toISOString());
    const third = retryRegistration(markPublished(ended), input, T0 + 30);
    expect(third).toMatchObject({ attempt: 3, generation: 2, attemptGeneration: 2 });
    expect(third.previousSubmissionIds).toEqual(['sub-1']);
  });

  it('refuses what Esign decided, what is still running, and an unpublished result', () => {
    expect(retryRefusal(published)).toBeUndefined();
    expect(retryRefusal(queued)).toMatch(/is QUEUED: only FAILED or TIMED_OUT/);
    expect(retryRefusal(failed)).toMatch(/result of attempt 1 is not published yet/);
    const completed = markPublished(
      endRegistration(
        initiated,
        {
          status: 'COMPLETED',
          source: 'callback',
          state: { submissionId: 'sub-1', status: 'COMPLETED', result: 'INVALID' },
        },
        T0 + 2,
      ),
    );
    expect(retryRefusal(completed)).toMatch(/is COMPLETED/);
    for (const refused of [queued, failed, completed])
      expect(retryRegistration(refused, input, T0 + 10)).toBe(refused);
  });

  it('a record written before retries existed is attempt 1', () => {
    expect(published.attempt).toBeUndefined();
    expect(published.result?.attempt).toBe(1);
    expect(retryRegistration(published, input, T0 + 10).attempt).toBe(2);
  });
});

describe('paused time (overlap)', () => {
  it('counts the union of the intervals within the window, once', () => {
    expect(overlap([], 0, 100)).toBe(0);
    expect(overlap([[10, 20]], 0, 100)).toBe(10);
    expect(overlap([[-50, 20]], 0, 100)).toBe(20); // began before the window
    expect(overlap([[90, 150]], 0, 100)).toBe(10); // still running at its end
    expect(
      overlap(
        [
          [10, 30],
          [20, 40], // two steps paused at overlapping times count once
          [50, 60],
        ],
        0,
        100,
      ),
    ).toBe(40);
    expect(overlap([[200, 300]], 0, 100)).toBe(0);
  });
});
