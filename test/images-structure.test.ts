import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWorkerError, type WorkerError } from '../src/lib/errors.ts';
import {
  checkImageSource,
  inspectImage,
  openImage,
  type ImagePolicy,
} from '../src/lib/images/index.ts';
import { syntheticJpeg, syntheticPng } from '../sandbox/synthetic-images.ts';
import { jpegOfSize, notWholeImages, pngClaiming } from './support/images.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * Issue "KYC data protection", hole 4: images were judged by their first bytes only, so
 * `FF D8 FF` + HTML, a PNG signature + ZIP, a bare `FF D8 FF` and a PNG claiming
 * 100000x100000 pixels were all uploaded. Now an image must be one whole JPEG or PNG, within
 * the pixel limits, with nothing after its end but zeros.
 */
const limits = { minWidth: 100, minHeight: 100, maxWidth: 10_000, maxHeight: 10_000 };
const bad = notWholeImages();
const zip = Buffer.from('PK\x03\x04 a trailing archive', 'latin1');

let root: string;
let policy: ImagePolicy;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'images-structure-'));
  policy = { root, allowedHosts: [], maxBytes: 2_000_000 };
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<WorkerError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isWorkerError(error)) throw new Error(`expected a WorkerError, got ${String(error)}`);
  return error;
}

describe('inspectImage', () => {
  it('accepts the synthetic images the demo and tests use, at the default limits', () => {
    for (const seed of [1, 2, 3])
      for (const [width, height] of [
        [256, 160],
        [100, 100],
        [400, 250],
      ] as const) {
        expect(inspectImage(syntheticJpeg(seed, width, height), limits)).toEqual({
          contentType: 'image/jpeg',
          width,
          height,
        });
        expect(inspectImage(syntheticPng(seed, width, height), limits)).toEqual({
          contentType: 'image/png',
          width,
          height,
        });
      }
  });

  it('accepts zero padding after the end, as some tools write it', () => {
    const padded = Buffer.concat([syntheticJpeg(4), Buffer.alloc(512)]);
    expect(inspectImage(padded, limits).contentType).toBe('image/jpeg');
    expect(inspectImage(Buffer.concat([syntheticPng(4), Buffer.alloc(3)]), limits).width).toBe(256);
  });

  it('refuses images outside the pixel limits, which are configurable', () => {
    expect(() => inspectImage(syntheticJpeg(5, 99, 160), limits)).toThrow(
      'is 99x160 pixels, outside the allowed 100x100 to 10000x10000',
    );
    expect(() => inspectImage(pngClaiming(10_001, 200), limits)).toThrow('is 10001x200 pixels');
    const strict = { ...limits, minWidth: 300 };
    expect(() => inspectImage(syntheticPng(5), strict)).toThrow('is 256x160 pixels');
  });
});

describe('whole-image checks at enqueue (base64)', () => {
  const expected: Record<string, string> = {
    'FF D8 FF + HTML': 'base64 is a malformed JPEG (an invalid marker)',
    'PNG signature + ZIP': 'base64 is a malformed PNG (IHDR is not the first chunk)',
    'bare FF D8 FF': 'base64 is a truncated JPEG (no end of image)',
    'PNG claiming 100000x100000':
      'base64 is 100000x100000 pixels, outside the allowed 100x100 to 10000x10000',
    'truncated JPEG': 'base64 is a truncated JPEG (no end of image)',
    'truncated PNG': 'base64 is a truncated PNG (no IEND)',
    'JPEG + ZIP after EOI': 'base64 has data after the end of the JPEG',
    'PNG + ZIP after IEND': 'base64 has data after the end of the PNG',
  };
  for (const [name, bytes] of Object.entries(bad))
    it(`refuses ${name}`, async () => {
      expect(await checkImageSource('ktp', { base64: bytes.toString('base64') }, policy)).toEqual([
        `images.ktp: ${expected[name] ?? '?'}`,
      ]);
    });
});

describe('whole-image checks at upload', () => {
  it('refuses each shape from a file as permanent IMAGE_INVALID naming the document', async () => {
    for (const [index, bytes] of Object.values(bad).entries()) {
      await writeFile(join(root, `bad-${index}.img`), bytes);
      const error = await failure(openImage('SELFIE', { path: `bad-${index}.img` }, policy));
      expect([error.code, error.retryable]).toEqual(['IMAGE_INVALID', false]);
      expect(error.message).toMatch(/^SELFIE image /);
    }
  });

  it('fails the stream of a large file with a trailing payload before its last bytes go out', async () => {
    const image = Buffer.concat([jpegOfSize(6, 600_000), zip]);
    await writeFile(join(root, 'large-trailing.jpg'), image);
    const opened = await openImage('KTP', { path: 'large-trailing.jpg' }, policy);
    expect(opened.contentLength).toBe(image.length);
    let delivered = 0;
    opened.stream.on('data', (chunk: Buffer) => (delivered += chunk.length));
    const error = await failure(opened.stream.toArray());
    expect([error.code, error.retryable]).toEqual(['IMAGE_INVALID', false]);
    expect(delivered).toBeLessThan(image.length);
  });

  it('streams a large whole file unchanged', async () => {
    const image = jpegOfSize(7, 900_000);
    await writeFile(join(root, 'large.jpg'), image);
    const opened = await openImage('KTP', { path: 'large.jpg' }, policy);
    expect(Buffer.concat((await opened.stream.toArray()) as Buffer[]).equals(image)).toBe(true);
  });

  it('refuses a chunked download with a trailing payload', async () => {
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.end(Buffer.concat([syntheticJpeg(8), zip]));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const local = {
        ...policy,
        allowedHosts: [`127.0.0.1:${port}`],
        allowHttp: true,
        allowPrivateNetworks: true,
      };
      const error = await failure(
        openImage('KTP', { url: `http://127.0.0.1:${port}/k.jpg` }, local),
      );
      expect([error.code, error.message]).toEqual([
        'IMAGE_INVALID',
        'KTP image has data after the end of the JPEG',
      ]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('an image found broken while it is uploaded, end to end', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it('fails the registration as IMAGE_INVALID (not a network error), storing nothing', async () => {
    await writeFile(join(stack.imageRoot, 'ktp.jpg'), Buffer.concat([jpegOfSize(9, 700_000), zip]));
    const request = registrationRequest(person('completed'));
    request.images.ktp = { path: 'ktp.jpg' };
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const result = await stack.waitForResult(registrationId, 30_000);
    expect(result.status).toBe('FAILED');
    expect(result.error).toMatchObject({
      code: 'IMAGE_INVALID',
      message: 'KTP image has data after the end of the JPEG',
    });
    const submission = stack.sandbox
      .inspect()
      .submissions.find((s) => s.submissionId === result.submissionId);
    expect(submission?.uploaded.KTP).toBe(false);
    expect(submission?.confirmCount).toBe(0);
  });
});
