import { mulberry32 } from '../../sandbox/prng.ts';
import { syntheticJpeg } from '../../sandbox/synthetic-images.ts';

/**
 * Test images of a chosen size. A real photo of 10 MiB would be
 * a fixture of PII or megabytes in the repository; instead a synthetic JPEG is grown with
 * comment (COM) segments of pseudo-random bytes: still one whole, decodable JPEG.
 */

/** A valid JPEG of exactly `totalBytes` (COM segments inserted after SOI). */
export function jpegOfSize(seed: number, totalBytes: number): Buffer {
  const base = syntheticJpeg(seed);
  let remaining = totalBytes - base.length;
  if (remaining < 0 || (remaining > 0 && remaining < 4))
    throw new RangeError('cannot pad to that size');
  const next = mulberry32(seed);
  const segments: Buffer[] = [];
  while (remaining > 0) {
    // A segment is FF FE, a length (2 bytes, counting itself) and at most 65533 payload bytes;
    // never leave a remainder too small for one more segment.
    let size = Math.min(65_537, remaining);
    if (remaining - size > 0 && remaining - size < 4) size -= 4;
    const segment = Buffer.alloc(size);
    segment[0] = 0xff;
    segment[1] = 0xfe;
    segment.writeUInt16BE(size - 2, 2);
    for (let i = 4; i < size; i += 1) segment[i] = Math.floor(next() * 256);
    segments.push(segment);
    remaining -= size;
  }
  return Buffer.concat([base.subarray(0, 2), ...segments, base.subarray(2)]);
}
