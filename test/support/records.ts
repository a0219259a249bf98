import { RECORD_FORMAT_VERSION } from '../../src/lib/registration/format.ts';
import type { RegistrationRecord } from '../../src/lib/registration/record.ts';

/**
 * A registration record just enqueued at `at` (user-1, PHONE, images by path and URL), for the
 * tests of the pure transitions; `overrides` for what a test needs otherwise.
 */
export function queuedRecord(
  at: number,
  overrides: Partial<RegistrationRecord> = {},
): RegistrationRecord {
  return {
    formatVersion: RECORD_FORMAT_VERSION,
    registrationId: 'reg-1',
    partnerUserId: 'user-1',
    partnerUserIdType: 'PHONE',
    status: 'QUEUED',
    version: 3,
    enqueuedAt: at,
    updatedAt: at,
    generation: 0,
    previousSubmissionIds: [],
    pollAttempts: 0,
    history: [{ status: 'QUEUED', at, source: 'worker' }],
    sealedRequest: 'sealed-request',
    imageKinds: { ktp: 'path', selfie: 'url' },
    ...overrides,
  };
}
