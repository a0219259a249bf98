import { randomUUID } from 'node:crypto';
import { permanent } from '../errors.ts';
import type { ConfirmMetadata } from './schemas.ts';

/** How the NIK is written into the confirm body (config ESIGN_NIK_JSON_TYPE). */
export type NikJsonType = 'number' | 'string';

const nikPattern = /^\d{16}$/;

/**
 * The Confirm Upload body (esign-api.md §6) as JSON text.
 *
 * The docs' example sends the NIK as a JSON number, but Papua NIKs (`91…`–`94…`) exceed
 * Number.MAX_SAFE_INTEGER, so `Number(nik)` would silently change its last digits. The NIK
 * therefore stays a string until the very end: the object is serialised with a random
 * placeholder in its place and the placeholder (quotes included) is then replaced by the
 * digits, verbatim. In `string` mode the digits are written as a JSON string instead.
 */
export function serialiseConfirmBody(
  submissionId: string,
  metadata: ConfirmMetadata,
  nikType: NikJsonType,
): string {
  const nik = metadata.userDetails.nik;
  if (!nikPattern.test(nik))
    throw permanent('REQUEST_INVALID', 'metadata.userDetails.nik: must be exactly 16 digits');
  // A JSON number cannot start with 0; a leading zero would make the body invalid JSON.
  if (nikType === 'number' && nik.startsWith('0'))
    throw permanent(
      'REQUEST_INVALID',
      'metadata.userDetails.nik: cannot start with 0 when ESIGN_NIK_JSON_TYPE=number',
    );

  const placeholder = `__nik_${randomUUID()}__`;
  const body = {
    submissionId,
    metadata: { ...metadata, userDetails: { ...metadata.userDetails, nik: placeholder } },
  };
  const json = JSON.stringify(body);
  const quoted = JSON.stringify(placeholder);
  const at = json.indexOf(quoted);
  // The placeholder is random, so exactly one occurrence is expected; anything else is a bug.
  if (at < 0 || json.indexOf(quoted, at + quoted.length) >= 0)
    throw permanent('INTERNAL', 'confirm body: NIK placeholder not found exactly once');
  const digits = nikType === 'number' ? nik : JSON.stringify(nik);
  return json.slice(0, at) + digits + json.slice(at + quoted.length);
}
