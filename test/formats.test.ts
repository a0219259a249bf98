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

  it('reads a record format 0 wrote, as format 1 with nothing else changed', () => {
    expect(readRecord(JSON.stringify(legacy))).toEqual({ ...legacy, formatVersion: 1 });
  });

  it('upgrades the result inside an ended format-0 record too', () => {
    const ended = { ...legacy, status: 'FAILED', result: legacyResult, sealedRequest: undefined };
    const record = readRecord(JSON.stringify(ended));
    expect(record.formatVersion).toBe(1);
    expect(record.result).toEqual({ ...legacyResult, formatVersion: 1 });
  });

  it('writes records in format 1, and reads them back as written', () => {
    const record = readRecord(JSON.stringify(legacy));
    const text = writeRecord(record);
    expect(JSON.parse(text)).toMatchObject({ formatVersion: 1, version: 0 });
    expect(readRecord(text)).toEqual(record);
  });

  it('refuses a record from a newer release, or one holding a newer sealed envelope', () => {
    const newer = refusal(() => readRecord(JSON.stringify({ ...legacy, formatVersion: 2 })));
    expect(newer).toMatchObject({ code: 'FORMAT_TOO_NEW', retryable: true });
    expect(newer.message).toMatch(/^registration record is in format 2, /);
    const sealed = { ...legacy, formatVersion: 1, sealedRequest: 'v2.aaaa.bbbb.cccc' };
    expect(refusal(() => readRecord(JSON.stringify(sealed)))).toMatchObject({
      code: 'FORMAT_TOO_NEW',
      retryable: true,
      message: expect.stringMatching(/^sealed PII is in format v2, /) as unknown,
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

  it('opens what format 0 sealed, with and without a key', () => {
    expect(createPiiCipher(key).open(format0Seal(key, '{"nik":"9101"}'))).toBe('{"nik":"9101"}');
    expect(createPiiCipher(undefined).open(format0Seal(undefined, '{"a":1}'))).toBe('{"a":1}');
  });

  it('seals in format 1 envelopes, which format 0 wrote too', () => {
    expect(createPiiCipher(key).seal('x')).toMatch(/^v1\./);
    expect(createPiiCipher(undefined).seal('x')).toBe('plain.x');
  });

  it('refuses a newer envelope retryably, so a worker of that release opens it', () => {
    for (const sealed of ['v2.aaaa.bbbb.cccc', 'plain2.{"a":1}', 'v10.a.b.c']) {
      expect(refusal(() => checkSealedFormat(sealed))).toMatchObject({
        code: 'FORMAT_TOO_NEW',
        retryable: true,
      });
      expect(() => createPiiCipher(key).open(sealed)).toThrow(/newer than this release reads/);
    }
    for (const sealed of ['v1.a.b.c', 'plain.x', 'garbage']) checkSealedFormat(sealed);
    expect(() => createPiiCipher(key).open('v0.a.b.c')).toThrow('sealed PII has an unknown format');
  });
});
