import { appendFile, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWorkerError, type WorkerError } from '../src/lib/errors.ts';
import { openImage, sniffImageType, type ImagePolicy } from '../src/lib/images/index.ts';
import { syntheticJpeg, syntheticPng } from '../sandbox/synthetic-images.ts';

const maxBytes = 16_000;
const jpeg = syntheticJpeg(11);
const png = syntheticPng(12);
const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');

let base: string;
let root: string;
let server: Server;
let origin: string;
let port: number;
const hits = new Map<string, number>();

type Route = (req: IncomingMessage, res: ServerResponse) => void;
const routes: Record<string, Route> = {
  // A wrong Content-Type on purpose: the type must come from the bytes.
  '/ktp.jpg': (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(jpeg),
  '/selfie-chunked.png': (_req, res) => {
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    res.write(png.subarray(0, 5));
    res.end(png.subarray(5));
  },
  '/cat.gif': (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(gif),
  '/big-declared.jpg': (_req, res) =>
    res.writeHead(200, { 'content-length': String(maxBytes + 1) }).end(Buffer.alloc(maxBytes + 1)),
  '/big-chunked.jpg': (_req, res) => {
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    res.write(jpeg);
    for (let i = 0; i < 10; i += 1) res.write(Buffer.alloc(4_000));
    res.end();
  },
  '/short.jpg': (_req, res) => {
    res.writeHead(200, { 'content-length': String(jpeg.length + 500) });
    res.write(jpeg, () => res.socket?.destroy());
  },
  '/gone.jpg': (_req, res) => res.writeHead(404).end('not found'),
  '/broken.jpg': (_req, res) => res.writeHead(500).end('oops'),
  '/forbidden.jpg': (_req, res) => res.writeHead(403).end('no'),
  '/to-ktp': (_req, res) => res.writeHead(302, { location: '/ktp.jpg' }).end(),
  '/to-localhost': (_req, res) =>
    res.writeHead(302, { location: `http://localhost:${port}/ktp.jpg` }).end(),
  // Answers nothing: the fetch timeout must end the wait.
  '/silent.jpg': () => undefined,
  '/loop': (_req, res) => res.writeHead(307, { location: '/loop' }).end(),
};

function hitCount(path: string): number {
  return hits.get(path) ?? 0;
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'images-open-'));
  root = join(base, 'root');
  await mkdir(root);
  await writeFile(join(root, 'ktp.jpg'), jpeg);
  await writeFile(join(root, 'selfie.png'), png);
  await writeFile(join(root, 'cat.gif'), gif);
  await writeFile(join(root, 'notes.txt'), 'hello');
  await writeFile(join(root, 'big.jpg'), Buffer.concat([jpeg, Buffer.alloc(maxBytes)]));
  await writeFile(join(base, 'outside.jpg'), jpeg);
  await symlink(join(base, 'outside.jpg'), join(root, 'escape.jpg'));

  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, hitCount(path) + 1);
    const route = routes[path];
    if (route) route(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(base, { recursive: true, force: true });
});

// The test server is plain http on a loopback port: a policy that opts into exactly that.
const local = { allowHttp: true, allowPrivateNetworks: true };
function policy(): ImagePolicy {
  return { root, allowedHosts: ['127.0.0.1:*'], maxBytes, fetchTimeoutMs: 5_000, ...local };
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  return Buffer.concat((await stream.toArray()) as Buffer[]);
}

async function failure(promise: Promise<unknown>): Promise<WorkerError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isWorkerError(error)) throw new Error(`expected a WorkerError, got ${String(error)}`);
  return error;
}

describe('sniffImageType', () => {
  it('recognises JPEG and PNG by their magic bytes and nothing else', () => {
    expect(sniffImageType(jpeg)).toBe('image/jpeg');
    expect(sniffImageType(png)).toBe('image/png');
    expect(sniffImageType(gif)).toBeUndefined();
    expect(sniffImageType(png.subarray(0, 7))).toBeUndefined();
    expect(sniffImageType(new Uint8Array())).toBeUndefined();
  });
});

describe('openImage: path', () => {
  it('streams a JPEG and a PNG with their exact length and sniffed type', async () => {
    const ktp = await openImage('KTP', { path: 'ktp.jpg' }, policy());
    expect(ktp.contentType).toBe('image/jpeg');
    expect(ktp.contentLength).toBe(jpeg.length);
    expect((await bytesOf(ktp.stream)).equals(jpeg)).toBe(true);

    const selfie = await openImage('SELFIE', { path: join(root, 'selfie.png') }, policy());
    expect(selfie.contentType).toBe('image/png');
    expect(selfie.contentLength).toBe(png.length);
    expect((await bytesOf(selfie.stream)).equals(png)).toBe(true);
  });

  it('rejects a GIF and a text file as IMAGE_INVALID naming the document', async () => {
    const asGif = await failure(openImage('KTP', { path: 'cat.gif' }, policy()));
    expect([asGif.code, asGif.retryable]).toEqual(['IMAGE_INVALID', false]);
    expect(asGif.message).toContain('KTP');
    const asText = await failure(openImage('SELFIE', { path: 'notes.txt' }, policy()));
    expect([asText.code, asText.retryable]).toEqual(['IMAGE_INVALID', false]);
    expect(asText.message).toContain('SELFIE');
  });

  it('rejects a file over maxBytes as permanent IMAGE_TOO_LARGE', async () => {
    const error = await failure(openImage('KTP', { path: 'big.jpg' }, policy()));
    expect([error.code, error.retryable]).toEqual(['IMAGE_TOO_LARGE', false]);
  });

  it('fails permanently for a missing file or a symlink leaving the root', async () => {
    const missing = await failure(openImage('KTP', { path: 'gone.jpg' }, policy()));
    expect([missing.code, missing.retryable]).toEqual(['IMAGE_SOURCE_FAILED', false]);
    const escape = await failure(openImage('KTP', { path: 'escape.jpg' }, policy()));
    expect([escape.code, escape.retryable]).toEqual(['IMAGE_SOURCE_FAILED', false]);
    expect(`${missing.message} ${escape.message}`).not.toContain('.jpg');
  });

  // Larger than a read-ahead (64 KiB), so the change happens before the file is fully read.
  const sizeChanges = [
    ['grows', (path: string) => appendFile(path, Buffer.alloc(1_000))],
    ['shrinks', (path: string) => truncate(path, 100_000)],
  ] as const;
  for (const [how, change] of sizeChanges)
    it(`fails the stream when the file ${how} after its size was taken`, async () => {
      const path = join(root, `${how}.jpg`);
      await writeFile(path, Buffer.concat([jpeg, Buffer.alloc(300_000)]));
      const large = { ...policy(), maxBytes: 1_000_000 };
      const opened = await openImage('KTP', { path: `${how}.jpg` }, large);
      expect(opened.contentLength).toBe(jpeg.length + 300_000);
      await change(path);
      const error = await failure(bytesOf(opened.stream));
      expect([error.code, error.retryable]).toEqual(['IMAGE_SOURCE_FAILED', true]);
      expect(error.message).toContain('changed size');
    });
});

describe('openImage: base64', () => {
  it('decodes a JPEG and a PNG', async () => {
    const ktp = await openImage('KTP', { base64: jpeg.toString('base64') }, policy());
    expect([ktp.contentType, ktp.contentLength]).toEqual(['image/jpeg', jpeg.length]);
    expect((await bytesOf(ktp.stream)).equals(jpeg)).toBe(true);
    const selfie = await openImage('SELFIE', { base64: png.toString('base64url') }, policy());
    expect([selfie.contentType, selfie.contentLength]).toEqual(['image/png', png.length]);
  });

  it('rejects invalid base64, a GIF and too many bytes', async () => {
    const invalid = await failure(openImage('KTP', { base64: '@@@@' }, policy()));
    expect(invalid.code).toBe('IMAGE_INVALID');
    const notImage = await failure(
      openImage('SELFIE', { base64: gif.toString('base64') }, policy()),
    );
    expect(notImage.code).toBe('IMAGE_INVALID');
    expect(notImage.message).toContain('SELFIE');
    const big = Buffer.concat([jpeg, Buffer.alloc(maxBytes)]).toString('base64');
    const tooLarge = await failure(openImage('KTP', { base64: big }, policy()));
    expect([tooLarge.code, tooLarge.retryable]).toEqual(['IMAGE_TOO_LARGE', false]);
  });
});

describe('openImage: url', () => {
  it('streams an image with Content-Length, typed from its bytes not its header', async () => {
    const opened = await openImage('KTP', { url: `${origin}/ktp.jpg` }, policy());
    expect([opened.contentType, opened.contentLength]).toEqual(['image/jpeg', jpeg.length]);
    expect((await bytesOf(opened.stream)).equals(jpeg)).toBe(true);
  });

  it('buffers a chunked image to learn its length', async () => {
    const opened = await openImage('SELFIE', { url: `${origin}/selfie-chunked.png` }, policy());
    expect([opened.contentType, opened.contentLength]).toEqual(['image/png', png.length]);
    expect((await bytesOf(opened.stream)).equals(png)).toBe(true);
  });

  it('rejects a GIF served as image/png, naming the document', async () => {
    const error = await failure(openImage('SELFIE', { url: `${origin}/cat.gif` }, policy()));
    expect([error.code, error.retryable]).toEqual(['IMAGE_INVALID', false]);
    expect(error.message).toContain('SELFIE');
  });

  it('enforces maxBytes with and without a Content-Length', async () => {
    const declared = await failure(
      openImage('KTP', { url: `${origin}/big-declared.jpg` }, policy()),
    );
    expect([declared.code, declared.retryable]).toEqual(['IMAGE_TOO_LARGE', false]);
    const streamed = await failure(
      openImage('KTP', { url: `${origin}/big-chunked.jpg` }, policy()),
    );
    expect([streamed.code, streamed.retryable]).toEqual(['IMAGE_TOO_LARGE', false]);
  });

  it('fails the stream when the body is shorter than its Content-Length', async () => {
    const opened = await openImage('KTP', { url: `${origin}/short.jpg` }, policy());
    const error = await failure(bytesOf(opened.stream));
    expect([error.code, error.retryable]).toEqual(['IMAGE_SOURCE_FAILED', true]);
  });

  it('treats 404 and 403 as permanent, 500 and network errors as retryable', async () => {
    const gone = await failure(openImage('KTP', { url: `${origin}/gone.jpg` }, policy()));
    expect([gone.code, gone.retryable, gone.httpStatus]).toEqual([
      'IMAGE_SOURCE_FAILED',
      false,
      404,
    ]);
    const forbidden = await failure(openImage('KTP', { url: `${origin}/forbidden.jpg` }, policy()));
    expect([forbidden.code, forbidden.retryable]).toEqual(['IMAGE_SOURCE_FAILED', false]);
    const broken = await failure(openImage('KTP', { url: `${origin}/broken.jpg` }, policy()));
    expect([broken.code, broken.retryable, broken.httpStatus]).toEqual([
      'IMAGE_SOURCE_FAILED',
      true,
      500,
    ]);

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await failure(
      openImage('KTP', { url: `http://127.0.0.1:${closedPort}/ktp.jpg` }, policy()),
    );
    expect([refused.code, refused.retryable]).toEqual(['IMAGE_SOURCE_FAILED', true]);
  });

  it('refuses a host that is not allowed without contacting it', async () => {
    const before = hitCount('/ktp.jpg');
    const error = await failure(
      openImage('KTP', { url: `http://localhost:${port}/ktp.jpg` }, policy()),
    );
    expect([error.code, error.retryable]).toEqual(['IMAGE_SOURCE_FAILED', false]);
    expect(hitCount('/ktp.jpg')).toBe(before);
  });

  it('follows a redirect to an allowed host', async () => {
    const opened = await openImage('KTP', { url: `${origin}/to-ktp` }, policy());
    expect((await bytesOf(opened.stream)).equals(jpeg)).toBe(true);
  });

  it('refuses a redirect to a disallowed host and never requests it', async () => {
    const before = hitCount('/ktp.jpg');
    const error = await failure(openImage('KTP', { url: `${origin}/to-localhost` }, policy()));
    expect([error.code, error.retryable]).toEqual(['IMAGE_SOURCE_FAILED', false]);
    expect(error.message).toContain('redirect');
    expect(hitCount('/ktp.jpg')).toBe(before);
  });

  it('turns a server that never answers into a retryable failure after fetchTimeoutMs', async () => {
    const quick = { ...policy(), fetchTimeoutMs: 200 };
    const error = await failure(openImage('KTP', { url: `${origin}/silent.jpg` }, quick));
    expect([error.code, error.retryable]).toEqual(['IMAGE_SOURCE_FAILED', true]);
  });

  it('stops when the caller aborts, as a retryable failure', async () => {
    const controller = new AbortController();
    const pending = openImage('KTP', { url: `${origin}/silent.jpg` }, policy(), controller.signal);
    controller.abort();
    const error = await failure(pending);
    expect([error.code, error.retryable]).toEqual(['IMAGE_SOURCE_FAILED', true]);
  });

  it('gives up on a redirect loop', async () => {
    const error = await failure(openImage('KTP', { url: `${origin}/loop` }, policy()));
    expect([error.code, error.retryable]).toEqual(['IMAGE_SOURCE_FAILED', false]);
  });
});
