import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Seals the PII part of a registration record at rest. With a 32-byte key: AES-256-GCM
 * (`v1.<iv>.<tag>.<ciphertext>`, base64url). Without one the text is stored as is
 * (`plain.<json>`), which is what a Redis on a trusted network with encryption at rest needs.
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

function encode(part: string | Buffer): string {
  return typeof part === 'string' ? part : part.toString('base64url');
}
