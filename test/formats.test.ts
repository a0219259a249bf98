import { describe, expect, it } from 'vitest';
import { WorkerError } from '../src/lib/errors.ts';
import { FORMAT_RETRY_MS, readFormat, storedFormat } from '../src/lib/format.ts';
import { checkSealedFormat, createPiiCipher } from '../src/lib/pii-cipher.ts';
import {
  readJobData,
  readRecord,
  readResult,
  writeJobData,
  writeRecord,
} from '../src/lib/registration/format.ts';
import { format0Record, format0Seal } from './fixtures/format-0-writers.ts';

/** The error `fn` throws; fails the test when it throws none or not a WorkerError. */
function refusal(fn: () => unknown): WorkerError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WorkerError);
    return error as WorkerError;
  }
  throw new Error('expected a refusal');
}

// A format with a history: version 2 renamed `name` to `title`, version 3 added `tags`.
const widget = storedFormat({
  name: 'widget',
  marker: 'v',
  current: 3,
  oldest: 2,
  upgrades: {
    1: ({ name, ...rest }) => ({ ...rest, title: name }),
    2: (value) => ({ ...value, tags: [] }),
  },
});

describe('stored formats: the scheme', () => {
  it('reads the current format as it is', () => {
    expect(readFormat(widget, { v: 3, title: 'a', tags: ['x'] })).toEqual({
      v: 3,
      title: 'a',
      tags: ['x'],
    });
  });

  it('upgrades the format before it (N-1) to N, marker included', () => {
    expect(readFormat(widget, { v: 2, title: 'a' })).toEqual({ v: 3, title: 'a', tags: [] });
  });

  it('reads a marker from a Redis hash, where it is a string of digits', () => {
    expect(readFormat(widget, { v: '2', title: 'a' })).toEqual({ v: 3, title: 'a', tags: [] });
  });

  it('refuses a newer format with a retryable FORMAT_TOO_NEW naming the versions, not the value', () => {
    const error = refusal(() => readFormat(widget, { v: 4, title: 'secret-title' }));
    expect(error.code).toBe('FORMAT_TOO_NEW');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(FORMAT_RETRY_MS);
    expect(error.message).toBe(
      'widget is in format 4, newer than this release reads (formats 2 to 3): ' +
        'a newer release wrote it; left for a worker of that release',
    );
  });

  it('refuses, for good, a format older than it reads (N-2) and values without one (format 0)', () => {
    for (const value of [{ v: 1, name: 'a' }, { name: 'a' }]) {
      const error = refusal(() => readFormat(widget, value));
      expect(error.code).toBe('FORMAT_UNSUPPORTED');
      expect(error.retryable).toBe(false);
    }
  });

  it('refuses malformed markers and values that are not objects, for good', () => {
    for (const value of [{ v: -1 }, { v: 2.5 }, { v: 'two' }, { v: null }, { v: '2a' }])
      expect(refusal(() => readFormat(widget, value)).code).toBe('FORMAT_UNSUPPORTED');
    for (const value of [null, 'text', 3, [1]])
      expect(refusal(() => readFormat(widget, value)).code).toBe('FORMAT_UNSUPPORTED');
  });

  it('refuses to declare a format that reads more than one release back, or lacks an upgrade', () => {
    const base = {
      name: 'w',
      marker: 'v',
      current: 3,
      upgrades: { 1: (v: Record<string, unknown>) => v },
    };
    expect(() => storedFormat({ ...base, oldest: 1 })).toThrow(/one release back at most/);
    expect(() => storedFormat({ ...base, oldest: 2 })).toThrow(/no upgrade from format 2/);
  });
});

describe('stored formats: the registration values', () => {
  const request = {
    registrationId: 'reg-f0-1',
    partnerUserId: 'user-f0-1',
    partnerUserIdType: 'E2E_USER_ID',
    images: { ktp: { path: 'ktp.jpg' }, selfie: { url: 'https://example.com/s.png' } },
  };
  const legacy = format0Record(request, format0Seal(undefined, JSON.stringify(request)), 1_000);
  const legacyResult = {
    registrationId: 'reg-f0-1',
    submissionId: 'sub-1',
    partnerUserId: 'user-f0-1',
    partnerUserIdType: 'E2E_USER_ID',
    status: 'FAILED',
    result: null,
    reasonCode: null,
    verificationResult: null,
    esignRegistrationId: null,
    eligibleToActivate: null,
    onboardingCode: null,
    shouldSkipActivation: null,
    source: 'worker',
    error: { code: 'IMAGE_INVALID', message: 'the KTP image is not a JPEG or PNG' },
    enqueuedAt: '1970-01-01T00:00:01.000Z',
    finishedAt: '1970-01-01T00:00:02.000Z',
  };

  // Format 1 is format 0 with its marker (the writer is frozen in fixtures/).
  const format1 = { ...legacy, formatVersion: 1 };
  const documents = (url: string) => ({
    KTP: { url, reference: 'r-k', expiresAt: 9_000 },
    SELFIE: { url, reference: 'r-s', expiresAt: 9_000, uploadedAt: 2_000 },
  });
  const submission = (url: string) => ({
    submissionId: 'sub-1',
    createdAt: 1_500,
    documents: documents(url),
  });

  it('reads a record format 1 wrote, as format 2 with nothing else changed', () => {
    expect(readRecord(JSON.stringify(format1))).toEqual({ ...legacy, formatVersion: 2 });
  });

  it('keeps a format-1 plaintext upload URL as legacyUrl, never as a sealed one', () => {
    const url = 'https://storage.test/sub-1/ktp?sig=1';
    const record = readRecord(JSON.stringify({ ...format1, submission: submission(url) }));
    expect(record.submission?.documents.KTP).toEqual({
      url: '',
      legacyUrl: url,
      reference: 'r-k',
      expiresAt: 9_000,
    });
  });

  it('refuses, for good, a record format 0 wrote: two releases back', () => {
    expect(refusal(() => readRecord(JSON.stringify(legacy)))).toMatchObject({
      code: 'FORMAT_UNSUPPORTED',
      retryable: false,
    });
  });

  it('refuses, for good and by kind only, a record whose upgrade meets a shape it cannot take', () => {
    const damaged = { ...format1, submission: { documents: { KTP: null } } };
    const error = refusal(() => readRecord(JSON.stringify(damaged)));
    expect(error).toMatchObject({ code: 'FORMAT_UNSUPPORTED', retryable: false });
    expect((error as Error).message).toBe('registration record cannot be upgraded (TypeError)');
  });

  it('writes records in format 2, version first, and reads them back as written', () => {
    const record = readRecord(JSON.stringify(format1));
    const text = writeRecord({ ...record, version: 12 });
    expect(text.startsWith('{"version":12,')).toBe(true);
    expect(JSON.parse(text)).toMatchObject({ formatVersion: 2, version: 12 });
    expect(readRecord(text)).toEqual({ ...record, version: 12 });
  });

  it("stores an ended record's result without the fields it shares with the record, and reads it whole", () => {
    const result = { ...legacyResult, formatVersion: 1 };
    const ended = { ...readRecord(JSON.stringify(format1)), status: 'FAILED', result };
    const text = writeRecord(ended as Parameters<typeof writeRecord>[0]);
    const stored = JSON.parse(text) as { result: Record<string, unknown> };
    expect(Object.keys(stored.result)).not.toContain('registrationId');
    expect(Object.keys(stored.result)).not.toContain('partnerUserId');
    expect(readRecord(text).result).toEqual(result);
  });

  it('refuses a record from a newer release, or one holding a newer sealed envelope', () => {
    const newer = refusal(() => readRecord(JSON.stringify({ ...legacy, formatVersion: 3 })));
    expect(newer).toMatchObject({ code: 'FORMAT_TOO_NEW', retryable: true });
    expect(newer.message).toMatch(/^registration record is in format 3, /);
    const sealed = { ...legacy, formatVersion: 2, sealedRequest: 'v3.aaaa.bbbb.cccc' };
    expect(refusal(() => readRecord(JSON.stringify(sealed)))).toMatchObject({
      code: 'FORMAT_TOO_NEW',
      retryable: true,
      message: expect.stringMatching(/^sealed PII is in format v3, /) as unknown,
    });
  });

  it('refuses a record that is not JSON for good, without quoting it', () => {
    const error = refusal(() => readRecord('{"partnerUserId":"user-f0-1",'));
    expect(error).toMatchObject({ code: 'FORMAT_UNSUPPORTED', retryable: false });
    expect(error.message).not.toContain('user-f0-1');
  });

  it('reads job payloads format 0 enqueued, and writes `v`', () => {
    expect(readJobData({ registrationId: 'r1' })).toEqual({ registrationId: 'r1', v: 1 });
    expect(readJobData({ registrationId: 'r1', attempt: 2, v: 1 })).toEqual({
      registrationId: 'r1',
      attempt: 2,
      v: 1,
    });
    expect(writeJobData({ registrationId: 'r1', attempt: 2 })).toEqual({
      registrationId: 'r1',
      attempt: 2,
      v: 1,
    });
    const newer = refusal(() => readJobData({ registrationId: 'r1', v: 2 }));
    expect(newer).toMatchObject({ code: 'FORMAT_TOO_NEW', retryable: true });
  });

  it('reads results format 0 published, as formatVersion 1', () => {
    expect(readResult(legacyResult)).toEqual({ ...legacyResult, formatVersion: 1 });
    expect(refusal(() => readResult({ ...legacyResult, formatVersion: 2 })).code).toBe(
      'FORMAT_TOO_NEW',
    );
  });
});

describe('stored formats: sealed PII', () => {
  const key = Buffer.alloc(32, 7);

  it('opens what formats 0 and 1 sealed (v1) with the key, and plain only without one', () => {
    const cipher = createPiiCipher({ key });
    expect(cipher.open(format0Seal(key, '{"nik":"9101"}'), 'any')).toBe('{"nik":"9101"}');
    const plaintext = createPiiCipher({ plaintextAllowed: true });
    expect(plaintext.open(format0Seal(undefined, '{"a":1}'), 'any')).toBe('{"a":1}');
    expect(() => cipher.open(format0Seal(undefined, '{"a":1}'), 'any')).toThrow(
      'a plaintext PII value is refused: PII_ENCRYPTION_KEY is set',
    );
  });

  it('seals in v2 envelopes with a key, plain only when plaintext is allowed', () => {
    expect(createPiiCipher({ key }).seal('x', 'r')).toMatch(/^v2\.[\w-]{11}\./);
    expect(createPiiCipher({ plaintextAllowed: true }).seal('x', 'r')).toBe('plain.x');
    expect(() => createPiiCipher({}).seal('x', 'r')).toThrow(/PII_ENCRYPTION_KEY is not set/);
  });

  it('refuses a newer envelope retryably, so a worker of that release opens it', () => {
    for (const sealed of ['v3.aaaa.bbbb.cccc.dddd', 'plain2.{"a":1}', 'v10.a.b.c']) {
      expect(refusal(() => checkSealedFormat(sealed))).toMatchObject({
        code: 'FORMAT_TOO_NEW',
        retryable: true,
      });
      expect(() => createPiiCipher({ key }).open(sealed, 'r')).toThrow(
        /newer than this release reads/,
      );
    }
    for (const sealed of ['v1.a.b.c', 'v2.a.b.c.d', 'plain.x', 'garbage'])
      checkSealedFormat(sealed);
    expect(() => createPiiCipher({ key }).open('v0.a.b.c', 'r')).toThrow(
      'sealed PII has an unknown format',
    );
  });
});
