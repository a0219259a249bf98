import type { PartnerUser } from '../lib/esign/types.ts';
import { permanent } from '../lib/errors.ts';
import {
  statusRank,
  type RegistrationRecord,
  type RegistrationStatus,
  type ResultSource,
} from '../lib/registration/record.ts';
import type { RegistrationRequest } from '../lib/registration/request-schema.ts';
import type { StepContext } from './context.ts';

export function partnerUser(record: RegistrationRecord): PartnerUser {
  return { userId: record.partnerUserId, userIdType: record.partnerUserIdType };
}

/** The sealed request (PII): only the steps that send it open it, and only in memory. */
export function openRequest(ctx: StepContext, record: RegistrationRecord): RegistrationRequest {
  if (!record.sealedRequest)
    throw permanent('INTERNAL', `registration ${record.registrationId} has no request left`);
  try {
    return JSON.parse(ctx.cipher.open(record.sealedRequest)) as RegistrationRequest;
  } catch {
    // Not the parser's message: it quotes the text it choked on, which is PII.
    throw permanent(
      'INTERNAL',
      `registration ${record.registrationId}: the sealed request cannot be read (wrong PII_ENCRYPTION_KEY?)`,
    );
  }
}

/** Move the status forward only; record the step in the history when it moved. */
export function advance(
  record: RegistrationRecord,
  status: RegistrationStatus,
  at: number,
  source: ResultSource = 'worker',
): RegistrationRecord {
  if (statusRank(status) > statusRank(record.status)) {
    record.status = status;
    record.history.push({ status, at, source });
  }
  return record;
}
