import type { RedisClient } from '../redis-topology.ts';
import type { CheckDocument } from '../images/source.ts';
import type { PiiCipher } from '../pii-cipher.ts';
import { StoreKeys } from './store-keys.ts';

/**
 * Inline (base64) images, kept out of the registration record: each is stored once, as
 * sealed bytes, under its own key with a TTL (the registration's deadline plus a margin), and
 * deleted as soon as both uploads succeed. So the record stays small, its compare-and-set
 * cheap, and no image is rewritten on every step.
 *
 *   <p>:registration-image:<registrationId>:ktp|selfie   sealed bytes (pii-cipher `sealBytes`)
 *
 * The sealed request names such an image `{ stored: 'ktp' }` instead of its bytes. The value
 * is the cipher's envelope (`v2.<keyId>.…`, or `plain.` when plaintext is allowed): that tag is
 * its format.
 */

/** What the sealed request holds in place of inline bytes. */
export interface StoredImageSource {
  stored: CheckDocument;
}

export function isStoredImage(source: unknown): source is StoredImageSource {
  return typeof source === 'object' && source !== null && 'stored' in source;
}

export class ImageStore {
  private readonly redis: RedisClient;
  private readonly keys: StoreKeys;
  private readonly cipher: PiiCipher;

  constructor(redis: RedisClient, prefix: string, cipher: PiiCipher) {
    this.redis = redis;
    this.keys = new StoreKeys(prefix);
    this.cipher = cipher;
  }

  key(registrationId: string, doc: CheckDocument): string {
    return this.keys.image(registrationId, doc);
  }

  /**
   * The given images, sealed, written back to back (one round trip of latency). Not a pipeline:
   * ioredis joins a pipeline's commands into one buffer, a third copy of every 10 MiB image.
   */
  async put(registrationId: string, images: readonly [CheckDocument, Buffer][], ttlMs: number) {
    await Promise.all(
      images.map(([doc, bytes]) => {
        const sealed = this.cipher.sealBytes(bytes, `${registrationId}:${doc}`);
        return this.redis.set(this.key(registrationId, doc), sealed, 'PX', Math.max(1, ttlMs));
      }),
    );
  }

  /** The image's bytes, or undefined when it is gone (uploaded, erased or expired). */
  async get(registrationId: string, doc: CheckDocument): Promise<Buffer | undefined> {
    const sealed = await this.redis.getBuffer(this.key(registrationId, doc));
    return sealed ? this.cipher.openBytes(sealed, `${registrationId}:${doc}`) : undefined;
  }

  /** Both images live `ttlMs` from now (a deadline moved out); a no-op for one that is gone. */
  async expire(registrationId: string, ttlMs: number): Promise<void> {
    await Promise.all(
      (['ktp', 'selfie'] as const).map((doc) =>
        this.redis.pexpire(this.key(registrationId, doc), Math.max(1, ttlMs)),
      ),
    );
  }

  /** Both images of a registration; a no-op when they are gone already. */
  async delete(registrationId: string): Promise<void> {
    await this.redis.del(this.key(registrationId, 'ktp'), this.key(registrationId, 'selfie'));
  }
}
