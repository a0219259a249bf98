import { crc32 } from 'node:zlib';
import { mulberry32 } from '../../sandbox/prng.ts';
import { syntheticJpeg, syntheticPng } from '../../sandbox/synthetic-images.ts';

/**
 * Test images of a chosen size and deliberately broken ones. A real photo of 10 MiB would be
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

/** A PNG whose IHDR claims other dimensions, with a correct CRC (only the size is wrong). */
export function pngClaiming(width: number, height: number): Buffer {
  const png = Buffer.from(syntheticPng(1));
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

/** The shapes the issue measured being uploaded as "images", and their relatives. */
export function notWholeImages(): Record<string, Buffer> {
  const jpeg = syntheticJpeg(1);
  const png = syntheticPng(2);
  const zip = Buffer.from('PK\x03\x04\x14\x00\x00\x00\x08\x00payload', 'latin1');
  return {
    'FF D8 FF + HTML': Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.from('<html>')]),
    'PNG signature + ZIP': Buffer.concat([png.subarray(0, 8), zip]),
    'bare FF D8 FF': Buffer.from([0xff, 0xd8, 0xff]),
    'PNG claiming 100000x100000': pngClaiming(100_000, 100_000),
    'truncated JPEG': jpeg.subarray(0, jpeg.length - 100),
    'truncated PNG': png.subarray(0, png.length - 1),
    'JPEG + ZIP after EOI': Buffer.concat([jpeg, zip]),
    'PNG + ZIP after IEND': Buffer.concat([png, zip]),
  };
}
