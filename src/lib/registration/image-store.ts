import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis-topology.ts';
import type { CheckDocument } from '../images/source.ts';
import type { ImagePieces } from '../images/pieces.ts';
import type { PiiCipher } from '../pii-cipher.ts';
import { permanent } from '../errors.ts';
import { readFormat, storedFormat } from '../format.ts';
import { answersOf } from '../redis-exec.ts';
import { StoreKeys } from './store-keys.ts';
import { StoreScript } from './store-scripts.ts';

/**
 * Inline (base64) images, kept out of the registration record: each is stored once, sealed,
 * under its own key with a TTL (the registration's deadline plus a margin), and deleted as soon
 * as both uploads succeed. So the record stays small, its compare-and-set cheap, and no image
 * is rewritten on every step.
 *
 *   <p>:registration-image:<registrationId>:ktp|selfie   a hash (format 3, below)
 *
 * The image is kept in the pieces it was decoded in (images/pieces.ts), each sealed on its own.
 * Why pieces: Redis (jemalloc) serves an allocation above 8 MiB from an arena that hands its
 * pages back to the kernel as soon as they are freed, so every 10 MiB value stored or read was
 * mapped fresh, page by page: ~90 ms of Redis CPU per 10 MiB image on this VM, ~7–15 ms in
 * 1 MiB pieces, whose memory is reused. ioredis joins a command's arguments into one buffer,
 * so each piece is its own command.
 *
 * Fields: `format` = "3", `set` (a random id of this put), `n` (the piece count), and per piece
 * `h<i>` and `b<i>`, the sealed envelope's head (tag, iv, auth tag) and ciphertext, kept apart
 * so the ciphertext is not copied into one value with its head. Each piece is sealed to
 * `<registrationId>:<doc>:<set>:<i>/<n>`, so pieces cannot be reordered, dropped, or mixed with
 * another put's. A key that is a plain string is format 2 (one sealed value, written before
 * this one): it is still read, so an image stored before a deploy is still uploaded after it.
 * The record names a stored image `{ stored: 'ktp' }` in its sealed request instead of its
 * bytes.
 */

const imageFormat = storedFormat({
  name: 'a stored image',
  marker: 'format',
  current: 3,
  oldest: 3,
  upgrades: {},
});
const FORMAT = String(imageFormat.current);

/**
 * Pieces written after the key was deleted (an erase, or the registration's end, while a put
 * was under way) make a hash without its head: that one is deleted, never an image whose head
 * is there.
 */
const DROP_HEADLESS = new StoreScript(`
if redis.call('HEXISTS', KEYS[1], 'format') == 0 then return redis.call('DEL', KEYS[1]) end
return 0`);

/** What the sealed request holds in place of inline bytes. */
export interface StoredImageSource {
  stored: CheckDocument;
}

export function isStoredImage(source: unknown): source is StoredImageSource {
  return typeof source === 'object' && source !== null && 'stored' in source;
}

const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));

const isWrongType = (error: unknown) => error instanceof Error && /^WRONGTYPE/.test(error.message);

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
   * The given images, sealed piece by piece. Each image's head (format, set, count) is written
   * with its TTL in one transaction that also drops an earlier put's pieces, then its pieces,
   * each with the TTL again right behind it: a put cut short leaves a key that expires and reads
   * as not stored (a piece is missing); a key deleted meanwhile is deleted again
   * (DROP_HEADLESS).
   */
  async put(
    registrationId: string,
    images: readonly [CheckDocument, ImagePieces][],
    ttlMs: number,
  ) {
    await Promise.all(
      images.map(async ([doc, bytes]) => {
        const key = this.key(registrationId, doc);
        const set = randomBytes(9).toString('base64url');
        const pieces = bytes.length > 0 ? bytes : [Buffer.alloc(0)];
        const count = pieces.length;
        await answersOf(
          this.redis
            .multi()
            .del(key)
            .hset(key, 'format', FORMAT, 'set', set, 'n', String(count))
            .pexpire(key, Math.max(1, ttlMs))
            .exec(),
          'a stored image write',
        );
        const owner = `${registrationId}:${doc}:${set}`;
        // Each piece followed by the TTL, as two commands sent together: not a transaction nor
        // a script, which would copy each 1 MiB once more (ioredis joins a transaction into one
        // buffer; Lua copies its arguments in and out).
        let failure: Error | undefined;
        await Promise.all(
          pieces.flatMap((piece, i) => {
            const [head, body] = this.cipher.sealBytesApart(piece, `${owner}:${i}/${count}`);
            return [
              this.redis.hset(key, `h${i}`, head, `b${i}`, body),
              this.redis.pexpire(key, Math.max(1, ttlMs)),
            ];
          }),
        ).catch((error: unknown) => (failure = asError(error)));
        // Also after a failed piece: what its siblings wrote into a deleted key goes.
        await DROP_HEADLESS.run(this.redis, [key], []).catch((error: unknown) => {
          failure ??= asError(error);
        });
        if (failure !== undefined) throw failure;
      }),
    );
  }

  /**
   * The image's bytes, as the pieces they were stored in, or undefined when it is gone
   * (uploaded, erased or expired) or was never stored whole (a put cut short by a crash).
   */
  async get(registrationId: string, doc: CheckDocument): Promise<Buffer[] | undefined> {
    const key = this.key(registrationId, doc);
    let fields: Record<string, Buffer>;
    try {
      fields = await this.redis.hgetallBuffer(key);
    } catch (error) {
      if (!isWrongType(error)) throw error;
      const sealed = await this.redis.getBuffer(key); // format 2: one sealed value
      return sealed ? [this.cipher.openBytes(sealed, `${registrationId}:${doc}`)] : undefined;
    }
    if (Object.keys(fields).length === 0) return undefined;
    // Newer: FORMAT_TOO_NEW, left for a newer worker; unmarked or malformed: FORMAT_UNSUPPORTED.
    readFormat(imageFormat, { format: fields['format']?.toString() });
    const count = Number(fields['n']?.toString());
    if (!Number.isInteger(count) || count < 1)
      throw permanent('FORMAT_UNSUPPORTED', 'a stored image has no piece count');
    const owner = `${registrationId}:${doc}:${fields['set']?.toString() ?? ''}`;
    const sealed: [Buffer, Buffer][] = [];
    for (let i = 0; i < count; i += 1) {
      const head = fields[`h${i}`];
      const body = fields[`b${i}`];
      if (!head || !body) return undefined;
      sealed.push([head, body]);
    }
    return sealed.map((parts, i) => this.cipher.openBytes(parts, `${owner}:${i}/${count}`));
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
