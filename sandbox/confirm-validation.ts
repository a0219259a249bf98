import type { EsignErrorBody } from './http.ts';

/**
 * Validation of the confirm-upload body (esign-api.md §6), strict where the docs state a
 * rule. The body is parsed from its raw text with JSON.parse source-text access, so a NIK
 * sent as a JSON number is read digit for digit: `9471020101900001` is beyond
 * Number.MAX_SAFE_INTEGER and would come out as another number through plain JSON.parse.
 *
 * Every problem is one error entry whose cause names the field and whose `entity` is the
 * field's path. Values are never echoed.
 */

export const confirmValidationCode = '1655';

/** A JSON number as it was written, kept apart from strings so the NIK's JSON type is known. */
class RawNumber {
  readonly source: string;
  constructor(source: string) {
    this.source = source;
  }
}

type Reviver = (key: string, value: unknown, context?: { source?: string }) => unknown;

/** JSON.parse, except that any `nik` number comes back as its source text. */
function parseKeepingNik(text: string): unknown {
  const reviver: Reviver = (key, value, context) =>
    key === 'nik' && typeof value === 'number' && context?.source !== undefined
      ? new RawNumber(context.source)
      : value;
  return JSON.parse(text, reviver);
}

export interface ValidConfirm {
  submissionId: string;
  nik: string;
  nikJsonType: 'number' | 'string';
}

export type ConfirmVerdict =
  { ok: true; value: ValidConfirm } | { ok: false; errors: EsignErrorBody[] };

function isObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof RawNumber)
  );
}

function problem(cause: string, entity: string): EsignErrorBody {
  return { code: confirmValidationCode, cause, entity };
}

/** DD-MM-YYYY naming a real calendar day (no 31-02-1990). */
export function isCalendarDate(text: string): boolean {
  const m = /^(\d{2})-(\d{2})-(\d{4})$/.exec(text);
  if (!m) return false;
  const [day, month, year] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return (
    year >= 1900 &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day
  );
}

export function validateConfirmBody(text: string): ConfirmVerdict {
  let body: unknown;
  try {
    body = parseKeepingNik(text);
  } catch {
    return { ok: false, errors: [problem('BODY_MUST_BE_JSON', 'body')] };
  }
  if (!isObject(body)) return { ok: false, errors: [problem('BODY_MUST_BE_JSON_OBJECT', 'body')] };
  const errors: EsignErrorBody[] = [];
  const submissionId = body.submissionId;
  if (typeof submissionId !== 'string' || submissionId === '')
    errors.push(problem('SUBMISSION_ID_CAN_NOT_BE_EMPTY', 'submissionId'));
  const metadata = body.metadata;
  if (!isObject(metadata)) {
    errors.push(problem('METADATA_CAN_NOT_BE_EMPTY', 'metadata'));
    return { ok: false, errors };
  }
  const details = metadata.userDetails;
  let nik: { digits: string; type: 'number' | 'string' } | undefined;
  if (!isObject(details)) {
    errors.push(problem('USER_DETAILS_CAN_NOT_BE_EMPTY', 'metadata.userDetails'));
  } else {
    nik = readNik(details.nik);
    if (!nik) errors.push(problem('NIK_MUST_BE_16_DIGITS', 'metadata.userDetails.nik'));
    if (typeof details.name !== 'string' || details.name.trim() === '')
      errors.push(problem('NAME_CAN_NOT_BE_EMPTY', 'metadata.userDetails.name'));
    if (typeof details.dateOfBirth !== 'string' || !isCalendarDate(details.dateOfBirth))
      errors.push(problem('DATE_OF_BIRTH_MUST_BE_DD_MM_YYYY', 'metadata.userDetails.dateOfBirth'));
    errors.push(...contactProblems(details));
  }
  errors.push(...consentProblems(metadata.consentData));
  if (errors.length > 0 || !nik || typeof submissionId !== 'string') return { ok: false, errors };
  return { ok: true, value: { submissionId, nik: nik.digits, nikJsonType: nik.type } };
}

function readNik(value: unknown): { digits: string; type: 'number' | 'string' } | undefined {
  if (value instanceof RawNumber)
    return /^\d{16}$/.test(value.source) ? { digits: value.source, type: 'number' } : undefined;
  if (typeof value === 'string' && /^\d{16}$/.test(value)) return { digits: value, type: 'string' };
  return undefined;
}

function contactProblems(details: Record<string, unknown>): EsignErrorBody[] {
  const errors: EsignErrorBody[] = [];
  const { email, phoneNumber } = details;
  if (email === undefined && phoneNumber === undefined)
    errors.push(problem('EMAIL_OR_PHONE_NUMBER_IS_REQUIRED', 'metadata.userDetails.email'));
  if (
    email !== undefined &&
    (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email))
  )
    errors.push(problem('EMAIL_IS_INVALID', 'metadata.userDetails.email'));
  // International form without "+", as in the docs' examples (62888675678910).
  if (
    phoneNumber !== undefined &&
    (typeof phoneNumber !== 'string' || !/^\d{8,15}$/.test(phoneNumber))
  )
    errors.push(problem('PHONE_NUMBER_IS_INVALID', 'metadata.userDetails.phoneNumber'));
  if (!isObject(details.dataVerification))
    errors.push(
      problem('DATA_VERIFICATION_CAN_NOT_BE_EMPTY', 'metadata.userDetails.dataVerification'),
    );
  return errors;
}

function consentProblems(consentData: unknown): EsignErrorBody[] {
  if (!Array.isArray(consentData) || consentData.length === 0)
    return [problem('CONSENT_DATA_CAN_NOT_BE_EMPTY', 'metadata.consentData')];
  const errors: EsignErrorBody[] = [];
  consentData.forEach((entry, index) => {
    if (!isObject(entry) || entry.consentGiven !== true)
      errors.push(problem('CONSENT_MUST_BE_GIVEN', `metadata.consentData.${index}.consentGiven`));
  });
  return errors;
}
