import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { formatTooNew } from './format.ts';

/**
 * Seals PII (the request, upload URLs, the partner token, image bytes) at rest in Redis.
 *
 * - `v2.<keyId>.<iv>.<tag>.<body>` (base64url): AES-256-GCM under the current key, with the
 *   value's owner as additional authenticated data (a registration id, or a fixed name for a
 *   shared value), so a sealed value copied into another registration does not open there.
 *   `keyId` names the key (the first bytes of a hash of it, never the key), so a rotated-out
 *   key still opens what it sealed (PII_PREVIOUS_KEYS) and a missing key is said as such.
 * - `v1.<iv>.<tag>.<body>`: what the previous release sealed (no key id, no owner). Opened
 *   for one release, with the current key and then each previous key, so a deploy never
 *   strands an in-flight registration (docs/design.md, "Stored formats").
 * - `plain.<text>`: only with PII_PLAINTEXT_ALLOWED=true and no key. A configured key refuses
 *   it: nothing falls back to plaintext once encryption is on.
 */
export interface PiiCipher {
  /** Whether `seal` encrypts (a key is set) rather than writing `plain.`. */
  readonly encrypts: boolean;
  seal(plaintext: string, owner: string): string;
  open(sealed: string, owner: string): string;
  /** Bytes (an image) sealed as bytes: `v2.<keyId>.` then iv, tag and ciphertext, raw. */
  sealBytes(plain: Buffer, owner: string): Buffer;
  /**
   * sealBytes as its two parts, [envelope head with iv and tag, ciphertext], not joined: a
   * caller that stores them apart saves a copy of the body.
   */
  sealBytesApart(plain: Buffer, owner: string): [Buffer, Buffer];
  /** What sealBytes sealed: whole, or as the two parts of sealBytesApart. */
  openBytes(sealed: Buffer | readonly [Buffer, Buffer], owner: string): Buffer;
}

export interface PiiKeys {
  /** The key that seals (PII_ENCRYPTION_KEY), 32 bytes. */
  key?: Buffer | undefined;
  /** Keys that only open (PII_PREVIOUS_KEYS), for rotation. */
  previousKeys?: readonly Buffer[] | undefined;
  /** PII_PLAINTEXT_ALLOWED=true: without a key, seal writes `plain.` instead of refusing. */
  plaintextAllowed?: boolean | undefined;
}

const MISSING_KEY =
  'PII_ENCRYPTION_KEY is not set: PII is only stored encrypted ' +
  '(set a 32-byte key, or PII_PLAINTEXT_ALLOWED=true to store it in plaintext)';

/** The key's id in an envelope: 8 bytes of a hash, which says nothing of the key. */
export function keyId(key: Buffer): string {
  return createHash('sha256')
    .update('esign-worker pii key id\0')
    .update(key)
    .digest()
    .subarray(0, 8)
    .toString('base64url');
}

export function createPiiCipher(keys: PiiKeys = {}): PiiCipher {
  const { key, plaintextAllowed = false } = keys;
  for (const each of [key, ...(keys.previousKeys ?? [])])
    if (each !== undefined && each.length !== 32) throw new Error('a PII key must be 32 bytes');
  // Key objects and ids made once: a raw key given to createCipheriv is checked and wrapped on
  // every call, a measurable share of the worker's CPU at a dozen seals and opens a registration.
  const raw = [key, ...(keys.previousKeys ?? [])].filter((each) => each !== undefined);
  const opening = raw.map((each) => createSecretKey(each));
  const byId = new Map(raw.map((each, index) => [keyId(each), opening[index]!]));
  const sealing = key && { id: keyId(key), secret: opening[0]! };
  const sealBytesApart = (plain: Buffer, owner: string): [Buffer, Buffer] => {
    if (!sealing) {
      if (plaintextAllowed) return [Buffer.from('plain.'), plain];
      throw new Error(MISSING_KEY);
    }
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', sealing.secret, iv);
    cipher.setAAD(Buffer.from(owner, 'utf8'));
    // GCM is a stream mode: final() adds no bytes, it computes the tag.
    const body = cipher.update(plain);
    cipher.final();
    const head = Buffer.concat([Buffer.from(`v2.${sealing.id}.`), iv, cipher.getAuthTag()]);
    return [head, body];
  };
  return {
    encrypts: key !== undefined,
    seal(plaintext, owner) {
      if (!sealing) {
        if (plaintextAllowed) return `plain.${plaintext}`;
        throw new Error(MISSING_KEY);
      }
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', sealing.secret, iv);
      cipher.setAAD(Buffer.from(owner, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v2', sealing.id, ...[iv, cipher.getAuthTag(), body].map(encode)].join('.');
    },
    open(sealed, owner) {
      checkSealedFormat(sealed);
      if (sealed.startsWith('plain.')) {
        if (key) throw new Error('a plaintext PII value is refused: PII_ENCRYPTION_KEY is set');
        return sealed.slice('plain.'.length);
      }
      const parts = sealed.split('.');
      if (parts[0] === 'v2' && parts.length === 5) {
        const [, id = '', iv = '', tag = '', body = ''] = parts;
        const opener = byId.get(id);
        if (!opener)
          throw new Error(
            opening.length === 0
              ? 'sealed PII needs PII_ENCRYPTION_KEY to be opened'
              : 'sealed PII was sealed with a key that is neither PII_ENCRYPTION_KEY nor in PII_PREVIOUS_KEYS',
          );
        return decrypt(opener, iv, tag, body, owner);
      }
      if (parts[0] === 'v1' && parts.length === 4) {
        // v1 sealed only the request's text: there is no v1 of anything else.
        const [, iv = '', tag = '', body = ''] = parts;
        if (opening.length === 0)
          throw new Error('sealed PII needs PII_ENCRYPTION_KEY to be opened');
        for (const candidate of opening) {
          try {
            return decrypt(candidate, iv, tag, body, undefined);
          } catch {
            // The next key: a v1 envelope does not say which key sealed it.
          }
        }
        throw new Error('sealed PII opens with none of the configured keys');
      }
      throw new Error('sealed PII has an unknown format');
    },
    sealBytes: (plain, owner) => Buffer.concat(sealBytesApart(plain, owner)),
    sealBytesApart,
    openBytes(sealed, owner) {
      const [head, body] = Buffer.isBuffer(sealed) ? splitSealed(sealed) : sealed;
      const tag = head.toString('latin1');
      if (tag === 'plain.') {
        if (key) throw new Error('a plaintext PII value is refused: PII_ENCRYPTION_KEY is set');
        return body;
      }
      const match = /^v2\.([A-Za-z0-9_-]{11})\./.exec(tag);
      if (!match?.[1] || head.length !== match[0].length + 28)
        throw new Error('sealed PII has an unknown format');
      const opener = byId.get(match[1]);
      if (!opener) throw new Error('sealed PII was sealed with a key that is not configured');
      const start = match[0].length;
      const decipher = createDecipheriv('aes-256-gcm', opener, head.subarray(start, start + 12));
      decipher.setAAD(Buffer.from(owner, 'utf8'));
      decipher.setAuthTag(head.subarray(start + 12, start + 28));
      try {
        // final() only checks the tag (GCM adds no bytes): no concat, no copy of the image.
        const plain = decipher.update(body);
        decipher.final();
        return plain;
      } catch {
        throw new Error('sealed PII does not open: another owner, or damaged');
      }
    },
  };
}

/** A whole sealBytes value as its [head, body]: `plain.` or `v2.<keyId>.` + iv + tag. */
function splitSealed(sealed: Buffer): [Buffer, Buffer] {
  const start = sealed.subarray(0, 16).toString('latin1');
  const headLength = start.startsWith('plain.')
    ? 'plain.'.length
    : /^v2\.[A-Za-z0-9_-]{11}\./.test(start)
      ? 'v2.'.length + 12 + 28
      : 0;
  return [sealed.subarray(0, headLength), sealed.subarray(headLength)];
}

function decrypt(
  key: KeyObject,
  iv: string,
  tag: string,
  body: string,
  owner: string | undefined,
): string {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  if (owner !== undefined) decipher.setAAD(Buffer.from(owner, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  try {
    return Buffer.concat([
      decipher.update(Buffer.from(body, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    // GCM says only "unable to authenticate": a wrong key, a wrong owner or a damaged value.
    throw new Error('sealed PII does not open: another owner, or damaged');
  }
}

/**
 * Refuse, retryably, an envelope a newer release sealed (`v3.…`, `plain2.…`), so it is left for
 * a worker of that release instead of being taken for a broken one. Other tags pass: `open`
 * judges them.
 */
export function checkSealedFormat(sealed: string): void {
  const tag = /^(v|plain)(\d*)\./.exec(sealed);
  if (!tag) return;
  const version = tag[2] ? Number(tag[2]) : 1;
  const newest = tag[1] === 'v' ? 2 : 1;
  if (version > newest) throw formatTooNew('sealed PII', tag[0].slice(0, -1), 'v1, v2 and plain');
}

function encode(part: Buffer): string {
  return part.toString('base64url');
}
