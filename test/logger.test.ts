import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/lib/logger.ts';
import { permanent } from '../src/lib/errors.ts';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, stream };
}

describe('logger', () => {
  it('redacts PII and secrets at any depth', () => {
    const { lines, stream } = capture();
    const logger = createLogger({ level: 'info', destination: stream });
    logger.info(
      {
        request: {
          userDetails: { name: 'Budi Santoso', nik: '3171234567890001', dateOfBirth: '01-02-1990' },
          consentData: [
            { additionalDetails: { userIp: '10.1.2.3', deviceDetails: { os: 'android' } } },
          ],
        },
        headers: { 'x-onekyc-token': 'eyJtoken', 'pass-key': 'pk-123', 'client-id': 'cid-9' },
        contact: { email: 'budi@example.com', phoneNumber: '628123456789' },
        registrationId: 'reg-1',
      },
      'something happened',
    );
    const text = lines.join('');
    for (const secret of [
      'Budi',
      '3171234567890001',
      '01-02-1990',
      '10.1.2.3',
      'android',
      'eyJtoken',
      'pk-123',
      'cid-9',
      'budi@example.com',
      '628123456789',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('reg-1');
    expect(text).toContain('[redacted]');
  });

  it('logs classified errors by code', () => {
    const { lines, stream } = capture();
    const logger = createLogger({ level: 'info', destination: stream });
    logger.error(
      { err: permanent('ESIGN_REJECTED', 'confirm rejected', { httpStatus: 400 }) },
      'failed',
    );
    const line = JSON.parse(lines[0] ?? '{}') as { err: { code: string; httpStatus: number } };
    expect(line.err.code).toBe('ESIGN_REJECTED');
    expect(line.err.httpStatus).toBe(400);
  });
});
