import { decode } from 'jpeg-js';
import { crc32, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sniffImageType } from '../src/lib/images/index.ts';
import { syntheticJpeg, syntheticPng } from '../sandbox/synthetic-images.ts';

interface PngChunk {
  type: string;
  data: Buffer;
  crcOk: boolean;
}

/** Just enough of a PNG reader to check what the generator wrote. */
function readChunks(png: Buffer): PngChunk[] {
  const chunks: PngChunk[] = [];
  let offset = 8;
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const typed = png.subarray(offset + 4, offset + 8 + length);
    const crc = png.readUInt32BE(offset + 8 + length);
    chunks.push({
      type: typed.subarray(0, 4).toString('ascii'),
      data: typed.subarray(4),
      crcOk: crc32(typed) === crc,
    });
    offset += 12 + length;
  }
  return chunks;
}

describe('syntheticJpeg', () => {
  it('decodes to the requested size, default 256x160', () => {
    const image = decode(syntheticJpeg(1));
    expect([image.width, image.height]).toEqual([256, 160]);
    const sized = decode(syntheticJpeg(1, 400, 250));
    expect([sized.width, sized.height]).toEqual([400, 250]);
    expect(sniffImageType(syntheticJpeg(1))).toBe('image/jpeg');
  });

  it('is the same for one seed and different across seeds, and small', () => {
    expect(syntheticJpeg(7).equals(syntheticJpeg(7))).toBe(true);
    expect(syntheticJpeg(7).equals(syntheticJpeg(8))).toBe(false);
    expect(syntheticJpeg(7).length).toBeLessThan(64 * 1024);
  });

  it('draws a picture, not a flat fill', () => {
    const { data } = decode(syntheticJpeg(3));
    const reds = new Set<number>();
    for (let i = 0; i < data.length; i += 4) reds.add(data[i] ?? 0);
    expect(reds.size).toBeGreaterThan(3);
  });
});

describe('syntheticPng', () => {
  it('has the signature, a valid IHDR, and IDAT inflating to every scanline', () => {
    const png = syntheticPng(2, 120, 80);
    expect(sniffImageType(png)).toBe('image/png');
    const chunks = readChunks(png);
    expect(chunks.map((chunk) => chunk.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(chunks.every((chunk) => chunk.crcOk)).toBe(true);
    const ihdr = chunks[0]!.data;
    expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9]]).toEqual([120, 80, 8, 2]);
    const raw = inflateSync(
      Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)),
    );
    expect(raw.length).toBe((120 * 3 + 1) * 80);
    // Filter type 0 on every scanline, as written.
    for (let row = 0; row < 80; row += 1) expect(raw[row * (120 * 3 + 1)]).toBe(0);
  });

  it('defaults to 256x160 and depends on the seed', () => {
    const ihdr = readChunks(syntheticPng(1))[0]!.data;
    expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4)]).toEqual([256, 160]);
    expect(syntheticPng(4).equals(syntheticPng(4))).toBe(true);
    expect(syntheticPng(4).equals(syntheticPng(5))).toBe(false);
  });

  it('refuses sizes too small to draw a card', () => {
    expect(() => syntheticPng(1, 4, 4)).toThrow(RangeError);
    expect(() => syntheticJpeg(1, 10.5, 40)).toThrow(RangeError);
  });
});
