import { createHash } from 'node:crypto';
import { decode } from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkImageSource, openImage, type ImagePolicy } from '../src/lib/images/index.ts';
import { jpegOfSize } from './support/images.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * Issue "KYC data protection", hole 1: a valid 7 MiB JPEG as base64 (~9.8 M characters) threw
 * `RangeError: Maximum call stack size exceeded` in the base64 check (a regex over the whole
 * text), at enqueue and again at upload, where it was classed INTERNAL and retried. Images up
 * to MAX_IMAGE_BYTES must go through whole.
 */
const tenMiB = 10 * 1024 * 1024;
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

let jpeg: Buffer;
let text: string;
beforeAll(() => {
  jpeg = jpegOfSize(21, tenMiB);
  text = jpeg.toString('base64');
});

const policy: ImagePolicy = { root: '/nonexistent', allowedHosts: [], maxBytes: tenMiB };

describe('base64 images at the size limit', () => {
  it('the test image is a decodable JPEG of exactly MAX_IMAGE_BYTES', () => {
    expect(jpeg.length).toBe(tenMiB);
    expect(text.length).toBeGreaterThan(13_900_000);
    const image = decode(jpeg);
    expect([image.width, image.height]).toEqual([256, 160]);
  });

  it('passes the enqueue check, in standard, URL-safe and line-wrapped base64', async () => {
    expect(await checkImageSource('ktp', { base64: text }, policy)).toEqual([]);
    expect(await checkImageSource('ktp', { base64: jpeg.toString('base64url') }, policy)).toEqual(
      [],
    );
    const wrapped = text.replace(/.{76}/g, '$&\r\n');
    expect(await checkImageSource('ktp', { base64: wrapped }, policy)).toEqual([]);
  });

  it('opens at upload with every byte intact', async () => {
    const opened = await openImage('KTP', { base64: text }, policy);
    expect([opened.contentType, opened.contentLength]).toEqual(['image/jpeg', tenMiB]);
    const bytes = Buffer.concat((await opened.stream.toArray()) as Buffer[]);
    expect(bytes.equals(jpeg)).toBe(true);
  });

  it('refuses one byte over the limit, and far longer text, without scanning it', async () => {
    const over = jpegOfSize(22, tenMiB + 4).toString('base64');
    expect(await checkImageSource('ktp', { base64: over }, policy)).toEqual([
      `images.ktp: base64 decodes to more than the limit of ${tenMiB} bytes`,
    ]);
    const huge = 'A'.repeat(64 * 1024 * 1024);
    expect(await checkImageSource('ktp', { base64: huge }, policy)).toEqual([
      `images.ktp: base64 decodes to more than the limit of ${tenMiB} bytes`,
    ]);
    const error = await openImage('KTP', { base64: huge }, policy).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'IMAGE_TOO_LARGE', retryable: false });
  });
});

describe('a 10 MiB base64 JPEG end to end', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it('enqueues, and reaches the sandbox byte for byte', async () => {
    const request = registrationRequest(person('completed'));
    request.images.ktp = { base64: text };
    const { registrationId, created } = await stack.producer.enqueueRegistration(request);
    expect(created).toBe(true);
    // Every record transition carries the ~14 MB request: slow on a loaded machine.
    const result = await stack.waitForResult(registrationId, 150_000);
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID', error: null });
    const submission = stack.sandbox
      .inspect()
      .submissions.find((s) => s.submissionId === result.submissionId);
    expect(submission?.uploaded).toEqual({ KTP: true, SELFIE: true });
    expect(submission?.documents.KTP.sha256).toBe(sha256(jpeg));
  }, 180_000);
});
