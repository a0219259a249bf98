import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { base64Pieces } from '../src/lib/images/base64.ts';
import { IMAGE_PIECE_BYTES, piecesOf, releasePieces } from '../src/lib/images/pieces.ts';
import { createPiiCipher } from '../src/lib/pii-cipher.ts';
import { ImageStore } from '../src/lib/registration/image-store.ts';
import { cleanPrefix, connect, uniquePrefix } from './support/redis.ts';

/**
 * Inline images are stored sealed, in pieces (format 3): read back byte for byte, never found
 * in plaintext, never opened from pieces of another put, and an image stored whole by the
 * release before (format 2) is still read after a deploy.
 */
describe('the image store', () => {
  let redis: Redis;
  const prefix = uniquePrefix('images');
  const cipher = createPiiCipher({ key: randomBytes(32) });
  let store: ImageStore;
  beforeAll(() => {
    redis = connect();
    store = new ImageStore(redis, prefix, cipher);
  });
  afterAll(async () => {
    await cleanPrefix(redis, prefix);
    redis.disconnect();
  });
  const joined = (pieces: readonly Buffer[] | undefined) => pieces && Buffer.concat(pieces);

  it('gives back the bytes in pieces, sealed in a hash with a TTL, none of them in plaintext', async () => {
    const image = randomBytes(3 * IMAGE_PIECE_BYTES + 1234);
    await store.put('r1', [['ktp', piecesOf(image)]], 60_000);
    const key = store.key('r1', 'ktp');
    expect(await redis.type(key)).toBe('hash');
    expect(await redis.hget(key, 'format')).toBe('3');
    expect(await redis.hget(key, 'n')).toBe('4');
    expect(await redis.pttl(key)).toBeGreaterThan(0);
    const fields = await redis.hgetallBuffer(key);
    const sample = image.subarray(IMAGE_PIECE_BYTES, IMAGE_PIECE_BYTES + 64);
    for (const value of Object.values(fields)) expect(value.includes(sample)).toBe(false);
    const pieces = await store.get('r1', 'ktp');
    expect(pieces?.map((piece) => piece.length)).toEqual([
      IMAGE_PIECE_BYTES,
      IMAGE_PIECE_BYTES,
      IMAGE_PIECE_BYTES,
      1234,
    ]);
    expect(joined(pieces)?.equals(image)).toBe(true);
    expect(await store.get('r1', 'selfie')).toBeUndefined();
  });

  it('never opens a piece of another put, and reads a put missing a piece as not stored', async () => {
    const first = randomBytes(2 * IMAGE_PIECE_BYTES);
    const second = randomBytes(2 * IMAGE_PIECE_BYTES);
    const key = store.key('r2', 'ktp');
    await store.put('r2', [['ktp', piecesOf(first)]], 60_000);
    const stale = await redis.hgetallBuffer(key);
    await store.put('r2', [['ktp', piecesOf(second)]], 60_000);
    expect(joined(await store.get('r2', 'ktp'))?.equals(second)).toBe(true);
    // The same slot, the same size, the same owner: only the put's id tells them apart.
    await redis.hset(key, 'h0', stale['h0']!, 'b0', stale['b0']!);
    await expect(store.get('r2', 'ktp')).rejects.toThrow(/does not open/);
    await redis.hdel(key, 'b1');
    expect(await store.get('r2', 'ktp')).toBeUndefined();
  });

  it('does not bring back an image deleted while its pieces are being written', async () => {
    // One connection: the DEL goes out after the put's head and before its pieces (they wait
    // for the head's answer), as an erase landing mid-put would.
    const putting = store.put(
      'r5',
      [['ktp', piecesOf(randomBytes(2 * IMAGE_PIECE_BYTES))]],
      60_000,
    );
    const deleting = redis.del(store.key('r5', 'ktp'));
    await Promise.all([putting, deleting]);
    expect(await deleting).toBe(1);
    expect(await redis.exists(store.key('r5', 'ktp'))).toBe(0);
    expect(await store.get('r5', 'ktp')).toBeUndefined();
  });

  it('leaves an image in a newer format to a newer worker, and refuses an unmarked one', async () => {
    const key = store.key('r6', 'ktp');
    await redis.hset(key, 'format', '4', 'set', 'x', 'n', '1');
    await expect(store.get('r6', 'ktp')).rejects.toMatchObject({ code: 'FORMAT_TOO_NEW' });
    await redis.hdel(key, 'format');
    await expect(store.get('r6', 'ktp')).rejects.toMatchObject({ code: 'FORMAT_UNSUPPORTED' });
  });

  it('reads an image stored whole by the release before (format 2)', async () => {
    const image = randomBytes(5000);
    await redis.set(store.key('r3', 'selfie'), cipher.sealBytes(image, 'r3:selfie'), 'PX', 60_000);
    expect(joined(await store.get('r3', 'selfie'))?.equals(image)).toBe(true);
    await store.delete('r3');
    expect(await redis.exists(store.key('r3', 'selfie'))).toBe(0);
  });

  it('keeps a stored image intact when its decoded pieces are reused for the next one', async () => {
    const first = randomBytes(IMAGE_PIECE_BYTES + 99);
    const decoded = base64Pieces(first.toString('base64'))!;
    await store.put('r4', [['ktp', decoded]], 60_000);
    releasePieces(decoded);
    const second = randomBytes(IMAGE_PIECE_BYTES + 99);
    const reused = base64Pieces(second.toString('base64'))!;
    // The pool lent the same memory again: the first image's pieces now read as the second's.
    const lent = new Set(decoded.map((piece) => piece.buffer));
    expect(reused.every((piece) => lent.has(piece.buffer))).toBe(true);
    expect(Buffer.concat(reused).equals(second)).toBe(true);
    expect(joined(await store.get('r4', 'ktp'))?.equals(first)).toBe(true);
  });
});
