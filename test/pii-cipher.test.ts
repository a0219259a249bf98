import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPiiCipher, keyId } from '../src/lib/pii-cipher.ts';
import { format0Seal } from './fixtures/format-0-writers.ts';

/**
 * The PII cipher without Redis: v2 envelopes name their key and are bound to their owner (the
 * registration id), keys rotate (seal with the new, open with new + previous), plaintext is
 * refused once a key is set, and nothing seals without a key unless plaintext is allowed.
 */
const secret = '{"nik":"3171011501900001","name":"Siti Rahayu"}';
const oldKey = randomBytes(32);
const newKey = randomBytes(32);

describe('PII cipher', () => {
  it('seals into a v2 envelope that names the key and holds nothing of the plaintext', () => {
    const sealed = createPiiCipher({ key: newKey }).seal(secret, 'reg-1');
    const [tag, id] = sealed.split('.');
    expect([tag, id]).toEqual(['v2', keyId(newKey)]);
    expect(sealed).not.toContain('3171011501900001');
    expect(sealed).not.toContain('Siti');
    expect(keyId(newKey)).not.toBe(keyId(oldKey));
    expect(createPiiCipher({ key: newKey }).open(sealed, 'reg-1')).toBe(secret);
  });

  it('does not open a value sealed for another registration (AAD = the registration id)', () => {
    const cipher = createPiiCipher({ key: newKey });
    const sealed = cipher.seal(secret, 'reg-1');
    expect(() => cipher.open(sealed, 'reg-2')).toThrow(
      'sealed PII does not open: another owner, or damaged',
    );
    const bytes = cipher.sealBytes(Buffer.from(secret), 'reg-1:ktp');
    expect(() => cipher.openBytes(bytes, 'reg-2:ktp')).toThrow(/another owner/);
    expect(cipher.openBytes(bytes, 'reg-1:ktp').toString()).toBe(secret);
  });

  it('rotates: sealed with the old key, opened with the new one plus PII_PREVIOUS_KEYS', () => {
    const before = createPiiCipher({ key: oldKey });
    const sealed = before.seal(secret, 'reg-1');
    const sealedBytes = before.sealBytes(Buffer.from(secret), 'reg-1:ktp');
    const legacy = format0Seal(oldKey, secret); // v1, the previous release's envelope
    const after = createPiiCipher({ key: newKey, previousKeys: [oldKey] });
    expect(after.open(sealed, 'reg-1')).toBe(secret);
    expect(after.openBytes(sealedBytes, 'reg-1:ktp').toString()).toBe(secret);
    expect(after.open(legacy, 'reg-1')).toBe(secret);
    // New values are sealed with the new key only.
    expect(after.seal(secret, 'reg-1').split('.')[1]).toBe(keyId(newKey));
    // Without the previous key, the old values say why they do not open.
    const newOnly = createPiiCipher({ key: newKey });
    expect(() => newOnly.open(sealed, 'reg-1')).toThrow(
      'sealed PII was sealed with a key that is neither PII_ENCRYPTION_KEY nor in PII_PREVIOUS_KEYS',
    );
    expect(() => newOnly.open(legacy, 'reg-1')).toThrow(
      'sealed PII opens with none of the configured keys',
    );
  });

  it('refuses plaintext once a key is set, and refuses to seal without a key unless allowed', () => {
    expect(() => createPiiCipher({ key: newKey }).open(`plain.${secret}`, 'reg-1')).toThrow(
      'a plaintext PII value is refused: PII_ENCRYPTION_KEY is set',
    );
    expect(() =>
      createPiiCipher({ key: newKey }).openBytes(Buffer.from(`plain.${secret}`), 'r'),
    ).toThrow(/plaintext PII value is refused/);
    const none = createPiiCipher();
    expect(none.encrypts).toBe(false);
    expect(() => none.seal(secret, 'reg-1')).toThrow(/^PII_ENCRYPTION_KEY is not set/);
    expect(() => none.sealBytes(Buffer.from(secret), 'reg-1')).toThrow(/PII_ENCRYPTION_KEY/);
    expect(() => none.open(createPiiCipher({ key: newKey }).seal(secret, 'r'), 'r')).toThrow(
      'sealed PII needs PII_ENCRYPTION_KEY to be opened',
    );
    const plain = createPiiCipher({ plaintextAllowed: true });
    expect(plain.open(plain.seal(secret, 'r'), 'r')).toBe(secret);
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(() => createPiiCipher({ key: randomBytes(16) })).toThrow('a PII key must be 32 bytes');
    expect(() => createPiiCipher({ key: newKey, previousKeys: [randomBytes(31)] })).toThrow(
      'a PII key must be 32 bytes',
    );
  });
});
