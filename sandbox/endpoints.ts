import type { IncomingMessage, ServerResponse } from 'node:http';
import { documentTypes } from '../src/lib/esign/schemas.ts';
import { validateConfirmBody } from './confirm-validation.ts';
import type { SandboxContext } from './context.ts';
import { header, sendEsignError, sendJson, type EsignErrorBody } from './http.ts';
import { checkPartnerHeaders } from './partner-headers.ts';
import { scenarioForNik } from './scenarios.ts';
import { stateBody } from './submissions.ts';

/**
 * The four Esign API endpoints (esign-api.md §3, §4, §6, §10). Each receives the already
 * read (size-limited) body; faults and latency were applied by the router.
 */

/** `GET /v1/esign/partner/authentication` */
export function handleToken(
  request: IncomingMessage,
  response: ServerResponse,
  context: SandboxContext,
): void {
  const clientId = header(request, 'client-id');
  const passKey = header(request, 'pass-key');
  const missing: EsignErrorBody[] = [];
  if (clientId === undefined) missing.push({ code: '1650', cause: 'MISSING_CLIENT_ID' });
  if (passKey === undefined) missing.push({ code: '1650', cause: 'MISSING_PASS_KEY' });
  if (missing.length > 0) return sendEsignError(response, 400, missing);
  if (clientId !== context.clientId || passKey !== context.passKey)
    return sendEsignError(response, 401, [{ code: '110', cause: 'UNAUTHORIZED' }]);
  const ttl = context.faults.tokenTtlOverride ?? context.tokenTtlSeconds;
  const issued = context.tokens.issue(ttl);
  sendJson(response, 200, {
    success: true,
    data: {
      token: issued.token,
      expiry_seconds: String(issued.expirySeconds),
      expires_at: String(issued.expiresAt),
    },
  });
}

/** `GET /esign-partner/v1/submissions/urls?submissionType=CERT_REG` */
export function handleCreateSubmission(
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  context: SandboxContext,
): void {
  const verdict = checkPartnerHeaders(request, context, { requireOnboardingPartner: true });
  if (!verdict.ok) return sendEsignError(response, verdict.status, verdict.errors);
  const types = url.searchParams.getAll('submissionType');
  if (types.length !== 1 || types[0] !== 'CERT_REG')
    return sendEsignError(response, 400, [
      { code: '1651', cause: 'SUBMISSION_TYPE_MUST_BE_CERT_REG', entity: 'submissionType' },
    ]);
  const { userId, userIdType, sessionId } = verdict.call;
  const submission = context.store.create(userId, userIdType, sessionId);
  const expired = context.faults.takeExpiredUrls();
  const documents = Object.fromEntries(
    documentTypes.map((type) => {
      const reference = submission.documents[type].reference;
      return [
        type,
        {
          documentUrl: context.signer.presign(reference, expired),
          documentReference: reference,
          expiryInSeconds: String(context.signer.ttl),
        },
      ];
    }),
  );
  context.logger.debug({ submissionId: submission.submissionId }, 'sandbox submission created');
  sendJson(response, 200, {
    success: true,
    data: { submissionId: submission.submissionId, status: 'INITIATED', documents },
  });
}

/** `PUT /esign-partner/v1/submissions/urls` (confirm upload) */
export function handleConfirm(
  request: IncomingMessage,
  response: ServerResponse,
  body: Buffer,
  context: SandboxContext,
): void {
  const verdict = checkPartnerHeaders(request, context, { requireOnboardingPartner: true });
  if (!verdict.ok) return sendEsignError(response, verdict.status, verdict.errors);
  const contentType = header(request, 'content-type') ?? '';
  if (!/^application\/json\b/i.test(contentType))
    return sendEsignError(response, 400, [
      { code: '1655', cause: 'CONTENT_TYPE_MUST_BE_APPLICATION_JSON', entity: 'content-type' },
    ]);
  const parsed = validateConfirmBody(body.toString('utf8'));
  if (!parsed.ok) return sendEsignError(response, 400, parsed.errors);
  const { submissionId, nik, nikJsonType } = parsed.value;
  const submission = context.store.get(submissionId);
  if (!submission)
    return sendEsignError(response, 400, [{ code: '1552', cause: 'SUBMISSION_DOES_NOT_EXIST' }]);
  const { userId, userIdType, sessionId } = verdict.call;
  if (submission.userId !== userId || submission.userIdType !== userIdType)
    return sendEsignError(response, 400, [
      { code: '1653', cause: 'SUBMISSION_ID_DOES_NOT_BELONG_TO_CURRENT_USER' },
    ]);
  submission.sessionIds.push(sessionId);
  if (submission.confirmCount > 0) {
    submission.confirmCount += 1;
    return sendEsignError(response, 400, [{ code: '1654', cause: 'SUBMISSION_ALREADY_CONFIRMED' }]);
  }
  const notUploaded = documentTypes
    .filter((type) => !submission.documents[type].uploaded)
    .map((type) => ({ code: '1656', cause: `${type}_NOT_UPLOADED`, entity: `documents.${type}` }));
  if (notUploaded.length > 0) return sendEsignError(response, 400, notUploaded);
  submission.confirmCount = 1;
  submission.nikRaw = nik;
  submission.nikJsonType = nikJsonType;
  submission.scenario = scenarioForNik(nik);
  context.logger.debug(
    { submissionId, scenario: submission.scenario },
    'sandbox submission confirmed',
  );
  sendJson(response, 200, { success: true, data: { submissionId } });
  context.processor.start(submission);
}

/** `GET /esign-partner/v1/submissions`: the partner user's latest submission. */
export function handleGetSubmission(
  request: IncomingMessage,
  response: ServerResponse,
  context: SandboxContext,
): void {
  const verdict = checkPartnerHeaders(request, context, { requireOnboardingPartner: false });
  if (!verdict.ok) return sendEsignError(response, verdict.status, verdict.errors);
  const { userId, userIdType, sessionId } = verdict.call;
  const submission = context.store.latestFor(userId, userIdType);
  if (!submission)
    return sendEsignError(
      response,
      404,
      [
        {
          code: '1514',
          cause: 'USER_NOT_FOUND_FOR_PARTNER_AND_PARTNER_USER_ID_AND_PARTNER_USER_ID_TYPE',
        },
      ],
      { data: {} },
    );
  submission.sessionIds.push(sessionId);
  sendJson(response, 200, { success: true, data: stateBody(submission) });
}
