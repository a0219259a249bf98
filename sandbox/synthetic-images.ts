import { encode } from 'jpeg-js';
import { crc32, deflateSync } from 'node:zlib';
import { mulberry32 as random } from './prng.ts';

/**
 * Synthetic KTP-like images for the demo and tests: a card in a seed-dependent colour with a
 * header band, a "photo" box and rows of "text" blocks. Real, decodable files (Esign's
 * sandbox has no test data, and fixtures of real cards would be PII), a few KB each.
 */

const defaultWidth = 256;
const defaultHeight = 160;

type Rgb = readonly [number, number, number];

/** The card as RGB rows: one function draws it, the two encoders only pack it. */
function drawCard(seed: number, width: number, height: number): (x: number, y: number) => Rgb {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 16 || height < 16)
    throw new RangeError('synthetic images need integer sizes of at least 16x16');
  const next = random(seed);
  const base: Rgb = [120 + next() * 100, 150 + next() * 80, 190 + next() * 60];
  const header: Rgb = [base[0] * 0.5, base[1] * 0.5, base[2] * 0.7];
  const photo: Rgb = [90 + next() * 120, 70 + next() * 100, 60 + next() * 80];
  const rows = Array.from({ length: 6 }, () => 0.35 + next() * 0.3);
  const band = Math.floor(height * 0.18);
  const photoLeft = Math.floor(width * 0.7);
  const photoTop = Math.floor(height * 0.28);
  const photoBottom = Math.floor(height * 0.85);
  const rowHeight = Math.max(2, Math.floor((height - band) / 14));
  return (x, y) => {
    if (y < band) return header;
    if (x >= photoLeft && x < width - 8 && y >= photoTop && y < photoBottom) return photo;
    const line = Math.floor((y - band) / rowHeight);
    const fill = rows[(line >> 1) % rows.length] ?? 0.5;
    const isText = line % 2 === 1 && x > 8 && x < width * fill && line < 13;
    return isText ? [40, 40, 60] : base;
  };
}

export function syntheticJpeg(seed: number, width = defaultWidth, height = defaultHeight): Buffer {
  const pixel = drawCard(seed, width, height);
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y += 1)
    for (let x = 0; x < width; x += 1) {
      const [r, g, b] = pixel(x, y);
      const offset = (y * width + x) * 4;
      data[offset] = r;
      data[offset + 1] = g;
      data[offset + 2] = b;
      data[offset + 3] = 255;
    }
  return encode({ data, width, height }, 80).data;
}

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/** An 8-bit RGB PNG: each scanline is filter byte 0 then raw pixels, deflated into one IDAT. */
export function syntheticPng(seed: number, width = defaultWidth, height = defaultHeight): Buffer {
  const pixel = drawCard(seed, width, height);
  const stride = width * 3 + 1;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y += 1)
    for (let x = 0; x < width; x += 1) {
      const [r, g, b] = pixel(x, y);
      const offset = y * stride + 1 + x * 3;
      raw[offset] = r;
      raw[offset + 1] = g;
      raw[offset + 2] = b;
    }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour RGB
  // compression, filter and interlace methods stay 0 (the only defined ones, no interlace)
  return Buffer.concat([
    pngSignature,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
