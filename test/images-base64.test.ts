import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base64BytesChecked, base64Pieces } from '../src/lib/images/base64.ts';
import { IMAGE_PIECE_BYTES } from '../src/lib/images/pieces.ts';

/** base64Pieces joined; small piece sizes put slice boundaries everywhere in short texts. */
const pieceSizes = [3, 6, 12, 30, IMAGE_PIECE_BYTES];
const base64Bytes = (text: string, pieceBytes = IMAGE_PIECE_BYTES): Buffer | undefined => {
  const pieces = base64Pieces(text, pieceBytes);
  if (pieces === undefined) return undefined;
  for (const piece of pieces.slice(0, -1)) expect(piece.length).toBe(pieceBytes);
  return Buffer.concat(pieces);
};

/**
 * base64Pieces answers from a round trip when the text is canonical and from a per-byte check
 * otherwise; both must follow the same rules: either alphabet (not mixed), padding optional,
 * whitespace ignored, anything else refused rather than silently skipped.
 */
const variants = (bytes: Buffer): Record<string, string> => {
  const standard = bytes.toString('base64');
  const url = bytes.toString('base64url');
  const padding = '='.repeat((4 - (url.length % 4)) % 4);
  return {
    standard,
    'standard unpadded': standard.replace(/=+$/, ''),
    url,
    'url padded': url + padding,
    'wrapped at 76': standard.replace(/.{76}/g, '$&\r\n'),
    'spaces around': ` \t${standard}\n`,
  };
};

describe('base64Pieces', () => {
  it('gives back the bytes of every accepted spelling, for every length mod 3', () => {
    for (const length of [0, 1, 2, 3, 4, 5, 57, 58, 59, 200, 1001]) {
      const bytes = randomBytes(length);
      for (const [name, text] of Object.entries(variants(bytes)))
        for (const size of pieceSizes)
          expect(base64Bytes(text, size)?.equals(bytes), `${length} bytes, ${name}, ${size}`).toBe(
            true,
          );
    }
  });

  it('answers as the per-byte check does, for valid text and random corruptions of it', () => {
    // Seeded, so a failure can be replayed: a small linear congruential generator.
    let seed = 20261127;
    const next = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % below;
    };
    const inserts = [
      '*',
      '!',
      '=',
      '==',
      ' ',
      '\n',
      '\t',
      '\v',
      '.',
      'é',
      '\u0000',
      '-',
      '_',
      '+',
      '/',
      // Characters whose low byte is a base64 letter: Node's decoder would read them as it.
      'Ł',
      'š',
      'ī',
      '\ud800',
    ];
    let refused = 0;
    for (let round = 0; round < 5000; round += 1) {
      const bytes = Buffer.from(Array.from({ length: next(40) }, () => next(256)));
      const texts = Object.values(variants(bytes));
      const text = texts[next(texts.length)]!;
      const at = next(text.length + 1);
      const corrupted =
        round % 5 === 0
          ? text
          : text.slice(0, at) + inserts[next(inserts.length)]! + text.slice(at);
      const fast = base64Bytes(corrupted, pieceSizes[round % pieceSizes.length]);
      const checked = base64BytesChecked(corrupted);
      expect(fast === undefined, JSON.stringify(corrupted)).toBe(checked === undefined);
      if (fast && checked) expect(fast.equals(checked), JSON.stringify(corrupted)).toBe(true);
      if (checked === undefined) refused += 1;
    }
    // The corruptions are mostly refusals: the comparison covered both answers.
    expect(refused).toBeGreaterThan(1000);
  });

  it('accepts a last character with non-zero spare bits, as the decoder reads it', () => {
    // "QR==" is not canonical ("QQ==" is) but decodes to the same byte.
    expect(base64Bytes('QR==')).toEqual(Buffer.from([0x41]));
    expect(base64Bytes('QR')).toEqual(Buffer.from([0x41]));
  });

  it('refuses what the decoder would silently skip or truncate', () => {
    const text = randomBytes(300).toString('base64');
    const refused = {
      'a character outside both alphabets': `${text.slice(0, 100)}*${text.slice(100)}`,
      'non-ASCII': `${text.slice(0, 100)}é${text.slice(100)}`,
      'both alphabets': `${text.slice(0, 8)}+-${text.slice(10)}`,
      'data after padding': 'QQ==QUFB',
      'three padding characters': 'QQ===',
      'padding that does not complete a group': 'QQ=',
      'one leftover character': 'QUFBQ',
    };
    for (const [name, bad] of Object.entries(refused))
      expect(base64Bytes(bad), name).toBeUndefined();
  });
});
