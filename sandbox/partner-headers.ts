import type { IncomingMessage } from 'node:http';
import { header, type EsignErrorBody } from './http.ts';
import type { SandboxContext } from './context.ts';

/**
 * The common headers of the API calls (esign-api.md §2), checked in the order a gateway
 * would: token first (401 `110`), then the onboarding partner (400 `1650` / 403 `110`), the
 * partner user (400 `1539`, both causes when both are missing), the session id (400 `1550`,
 * our choice: the docs give no code for it).
 */

export interface PartnerCall {
  userId: string;
  userIdType: string;
  sessionId: string;
}

export type HeaderVerdict =
  { ok: true; call: PartnerCall } | { ok: false; status: number; errors: EsignErrorBody[] };

export function checkPartnerHeaders(
  request: IncomingMessage,
  context: SandboxContext,
  options: { requireOnboardingPartner: boolean },
): HeaderVerdict {
  // Recorded before any check: a test of session-id uniqueness sees every call that carried one.
  const sessionId = header(request, 'x-partner-session-id');
  if (sessionId !== undefined) context.recorder.sessionId(sessionId);
  if (!context.tokens.isValid(header(request, 'x-onekyc-token')))
    return { ok: false, status: 401, errors: [{ code: '110', cause: 'UNAUTHORIZED' }] };
  if (options.requireOnboardingPartner) {
    const partner = header(request, 'x-esign-onboarding-partner');
    if (partner === undefined)
      return {
        ok: false,
        status: 400,
        errors: [{ code: '1650', cause: 'ESIGN_ONBOARDING_PARTNER_CAN_NOT_BE_EMPTY' }],
      };
    if (partner !== context.onboardingPartner)
      return {
        ok: false,
        status: 403,
        errors: [{ code: '110', cause: 'ONBOARDING_PARTNER_DOES_NOT_BELONG_TO_CLIENT' }],
      };
  }
  const userId = header(request, 'x-partner-user-id');
  const userIdType = header(request, 'x-partner-user-id-type');
  const userErrors: EsignErrorBody[] = [];
  if (userId === undefined)
    userErrors.push({ code: '1539', cause: 'PARTNER_USER_ID_CAN_NOT_BE_EMPTY' });
  if (userIdType === undefined)
    userErrors.push({ code: '1539', cause: 'PARTNER_USER_ID_TYPE_CAN_NOT_BE_EMPTY' });
  if (userId === undefined || userIdType === undefined)
    return { ok: false, status: 400, errors: userErrors };
  if (sessionId === undefined)
    return {
      ok: false,
      status: 400,
      errors: [{ code: '1550', cause: 'PARTNER_SESSION_ID_CAN_NOT_BE_EMPTY' }],
    };
  return { ok: true, call: { userId, userIdType, sessionId } };
}
