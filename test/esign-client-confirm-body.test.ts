import { describe, expect, it } from 'vitest';
import { isWorkerError } from '../src/lib/errors.ts';
import { serialiseConfirmBody } from '../src/lib/esign/confirm-body.ts';
import type { ConfirmMetadata } from '../src/lib/esign/schemas.ts';
import { confirmMetadata as metadata } from './support/requests.ts';

const papuaNik = '9471020101900001';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('serialiseConfirmBody', () => {
  it('writes a Papua NIK above MAX_SAFE_INTEGER as a JSON number with its digits verbatim', () => {
    expect(Number(papuaNik).toString()).not.toBe(papuaNik); // the trap this function avoids
    const json = serialiseConfirmBody('sub-1', metadata(papuaNik), 'number');
    expect(json).toContain(`"nik":${papuaNik}`);
    expect(json).not.toContain(`"nik":"`);
    expect(json).not.toContain('__nik_');
  });

  it('writes the NIK as a JSON string in string mode', () => {
    const json = serialiseConfirmBody('sub-1', metadata(papuaNik), 'string');
    expect(json).toContain(`"nik":"${papuaNik}"`);
    const parsed = JSON.parse(json) as { metadata: { userDetails: { nik: unknown } } };
    expect(parsed.metadata.userDetails.nik).toBe(papuaNik);
  });

  it('keeps every other field as given and produces valid JSON', () => {
    const json = serialiseConfirmBody('sub-42', metadata('3187888902845410'), 'number');
    const parsed = JSON.parse(json) as { submissionId: string; metadata: ConfirmMetadata };
    expect(parsed.submissionId).toBe('sub-42');
    expect(parsed.metadata.userDetails).toEqual({
      ...metadata('3187888902845410').userDetails,
      nik: 3187888902845410, // safe integer: JSON.parse reads it back exactly
    });
    expect(parsed.metadata.consentData).toEqual(metadata('1').consentData);
    expect(parsed.metadata.userLocale).toBe('en_ID');
  });

  it('is not fooled by a NIK-like text elsewhere in the metadata', () => {
    const input = metadata(papuaNik);
    input.additionalData = { note: '__nik_placeholder__', nik: 'free text' };
    const json = serialiseConfirmBody('sub-1', input, 'number');
    expect(json).toContain(`"nik":${papuaNik}`);
    expect(json).toContain('"nik":"free text"');
  });

  it.each(['123', '94710201019000011', '94710201019O0001', ' 9471020101900001'])(
    'rejects a NIK that is not 16 digits (%j) without echoing it',
    (nik) => {
      const error = thrown(() => serialiseConfirmBody('sub-1', metadata(nik), 'string'));
      expect(isWorkerError(error) && error.code).toBe('REQUEST_INVALID');
      expect(isWorkerError(error) && error.retryable).toBe(false);
      expect((error as Error).message).not.toContain(nik.trim());
    },
  );

  it('rejects a leading zero in number mode (invalid JSON) but accepts it as a string', () => {
    const nik = '0171020101900001';
    const error = thrown(() => serialiseConfirmBody('sub-1', metadata(nik), 'number'));
    expect(isWorkerError(error) && error.code).toBe('REQUEST_INVALID');
    expect(serialiseConfirmBody('sub-1', metadata(nik), 'string')).toContain(`"nik":"${nik}"`);
  });

  it('does not modify the metadata it was given', () => {
    const input = metadata(papuaNik);
    serialiseConfirmBody('sub-1', input, 'number');
    expect(input.userDetails.nik).toBe(papuaNik);
  });
});
