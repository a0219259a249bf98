import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { formatTooNew } from './format.ts';

/**
 * Seals the PII part of a registration record at rest. With a 32-byte key: AES-256-GCM
 * (`v1.<iv>.<tag>.<ciphertext>`, base64url). Without one the text is stored as is
 * (`plain.<json>`), which is what a Redis on a trusted network with encryption at rest needs.
 *
 * The envelope's first part is its format version: `v1` and `plain` are format 1 (what
 * releases before formats were versioned wrote, too). A new envelope takes a new tag (`v2`,
 * `plain2`), read beside the old one for a release (docs/design.md, "Stored formats").
 */
export interface PiiCipher {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

export function createPiiCipher(key: Buffer | undefined): PiiCipher {
  return {
    seal(plaintext) {
      if (!key) return `plain.${plaintext}`;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), body].map(encode).join('.');
    },
    open(sealed) {
      checkSealedFormat(sealed);
      if (sealed.startsWith('plain.')) return sealed.slice('plain.'.length);
      const [version, iv, tag, body] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || body === undefined)
        throw new Error('sealed PII has an unknown format');
      if (!key) throw new Error('sealed PII needs PII_ENCRYPTION_KEY to be opened');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    },
  };
}

/**
 * Refuse, retryably, an envelope a newer release sealed (`v2.…`, `plain2.…`), so it is left for
 * a worker of that release instead of being taken for a broken one. Other tags pass: `open`
 * judges them.
 */
export function checkSealedFormat(sealed: string): void {
  const tag = /^(v|plain)(\d*)\./.exec(sealed);
  const version = tag?.[2] ? Number(tag[2]) : 1;
  if (version > 1) throw formatTooNew('sealed PII', tag?.[0].slice(0, -1) ?? '', 'v1 and plain');
}

function encode(part: string | Buffer): string {
  return typeof part === 'string' ? part : part.toString('base64url');
}
