import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, sendEmpty, sendStorageError } from './http.ts';
import type { SubmissionStore } from './submissions.ts';
import type { LeakRecord } from './types.ts';

/**
 * The object storage behind the presigned URLs: S3-style query signing (X-Amz-Date,
 * X-Amz-Expires, X-Amz-Signature over method, path, date and lifetime) with a secret of this
 * sandbox instance, and the PUT handler that checks it and takes the image.
 */

export const storagePrefix = '/storage/CERT_REG/';

/** Headers that must never reach object storage: their presence is recorded as a leak. */
const esignHeaders = [
  'x-onekyc-token',
  'client-id',
  'pass-key',
  'authorization',
  'x-esign-onboarding-partner',
];

export class UrlSigner {
  private readonly secret = randomBytes(32);
  private readonly baseUrl: string;
  private readonly ttlSeconds: number;
  /** The sandbox's clock (a test may move it). */
  readonly now: () => number;

  constructor(baseUrl: string, ttlSeconds: number, now: () => number) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.ttlSeconds = ttlSeconds;
    this.now = now;
  }

  /** A presigned PUT URL for `reference`; `expired` backdates it past its lifetime (a fault). */
  presign(reference: string, expired = false): string {
    const signedAt = expired ? this.now() - (this.ttlSeconds + 60) * 1000 : this.now();
    const date = amzDate(signedAt);
    const expires = String(this.ttlSeconds);
    const path = `${storagePrefix}${reference}`;
    const query = new URLSearchParams({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Date': date,
      'X-Amz-Expires': expires,
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': this.sign(path, date, expires),
    });
    return `${this.baseUrl}${path}?${query.toString()}`;
  }

  get ttl(): number {
    return this.ttlSeconds;
  }

  check(
    path: string,
    query: URLSearchParams,
  ): { kind: 'ok' } | { kind: 'expired'; expiredAt: number } | { kind: 'bad-signature' } {
    const date = query.get('X-Amz-Date') ?? '';
    const expires = query.get('X-Amz-Expires') ?? '';
    const given = Buffer.from(query.get('X-Amz-Signature') ?? '', 'utf8');
    const wanted = Buffer.from(this.sign(path, date, expires), 'utf8');
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted))
      return { kind: 'bad-signature' };
    const signedAt = parseAmzDate(date);
    if (signedAt === undefined) return { kind: 'bad-signature' };
    const expiredAt = signedAt + Number(expires) * 1000;
    return this.now() >= expiredAt ? { kind: 'expired', expiredAt } : { kind: 'ok' };
  }

  private sign(path: string, date: string, expires: string): string {
    return createHmac('sha256', this.secret)
      .update(`PUT\n${path}\n${date}\n${expires}`)
      .digest('hex');
  }
}

function amzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function parseAmzDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

const jpegMagic = Buffer.from([0xff, 0xd8, 0xff]);
const pngMagic = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function isImage(bytes: Buffer): boolean {
  return (
    bytes.subarray(0, jpegMagic.length).equals(jpegMagic) ||
    bytes.subarray(0, pngMagic.length).equals(pngMagic)
  );
}

export interface StorageDeps {
  signer: UrlSigner;
  store: SubmissionStore;
  recordLeak(leak: LeakRecord): void;
  addBytes(count: number): void;
  /** What a good upload is answered (the `uploadStatus` fault: 200 or 204). */
  successStatus: 200 | 204;
}

/** An S3-style request id: 16 upper-case hex digits. */
function requestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

/** `PUT /storage/CERT_REG/<uuid>_<TYPE>?X-Amz-...`: 200 (or 204) on success; 403 expired (`AccessDenied`, "Request has expired"), tampered or confirmed; 400 not an image. */
export async function handleUpload(
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  /** The body as the router reads it (readBody with storageBodyLimit). */
  bodyRead: Promise<Buffer>,
  deps: StorageDeps,
): Promise<void> {
  const reference = decodeURIComponent(url.pathname.slice(storagePrefix.length));
  for (const name of Object.keys(request.headers)) {
    if (esignHeaders.includes(name) || name.startsWith('x-partner-') || name.startsWith('x-esign-'))
      deps.recordLeak({ header: name, documentReference: reference });
  }
  let body: Buffer;
  try {
    body = await bodyRead;
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      sendStorageError(
        response,
        400,
        'EntityTooLarge',
        'Your proposed upload exceeds the maximum allowed size.',
        { connection: 'close' },
      );
      return;
    }
    throw error;
  }
  const verdict = deps.signer.check(url.pathname, url.searchParams);
  if (verdict.kind === 'bad-signature') {
    sendStorageError(
      response,
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
    );
    return;
  }
  if (verdict.kind === 'expired') {
    // As S3 and OSS answer an expired presigned URL: AccessDenied, told apart by the message
    // and the expiry/server-time elements.
    sendStorageError(response, 403, 'AccessDenied', {
      Message: 'Request has expired',
      'X-Amz-Expires': String(deps.signer.ttl),
      Expires: new Date(verdict.expiredAt).toISOString(),
      ServerTime: new Date(deps.signer.now()).toISOString(),
      RequestId: requestId(),
    });
    return;
  }
  const target = deps.store.byDocumentReference(reference);
  if (!target) {
    sendStorageError(response, 404, 'NoSuchKey', 'The specified key does not exist.');
    return;
  }
  if (target.submission.confirmCount > 0) {
    // The documents of a confirmed submission are final: the bucket refuses the write the way
    // a policy denial reads, which says nothing of expiry.
    sendStorageError(response, 403, 'AccessDenied', {
      Message: 'Access Denied',
      RequestId: requestId(),
    });
    return;
  }
  if (!isImage(body)) {
    sendStorageError(response, 400, 'InvalidImage', 'The body is not a JPEG or PNG image.');
    return;
  }
  deps.addBytes(body.length);
  target.submission.bytes += body.length;
  const document = target.submission.documents[target.type];
  document.uploaded = true;
  document.sha256 = createHash('sha256').update(body).digest('hex');
  sendEmpty(response, deps.successStatus, { etag: `"${body.length.toString(16)}"` });
}
