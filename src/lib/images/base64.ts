/**
 * Inline images. Standard and URL-safe alphabets are accepted (not mixed), padded or not, and
 * ASCII whitespace (MIME- or PEM-wrapped base64) is ignored. Node's decoder silently skips
 * invalid characters, so the text is checked first: a typo must be an error, not a silently
 * truncated image.
 *
 * No regular expression runs over the text: an image at the 10 MiB limit is ~14 M characters,
 * and V8 throws `RangeError: Maximum call stack size exceeded` on patterns with alternation over
 * strings that long. The size is checked first (base64TooLong), then one loop over char codes.
 */

/** Base64 text without whitespace or padding, and which alphabet it uses. */
export interface Base64Text {
  unpadded: string;
  urlSafe: boolean;
}

/**
 * Whether the text is too long to be an image of at most maxBytes, before looking at it. The
 * bound is the encoded size of maxBytes plus two line-break characters per 64 (PEM's line
 * length; MIME's 76 needs fewer), so any well-formed wrapping of an allowed image passes.
 */
export function base64TooLong(text: string, maxBytes: number): boolean {
  const encoded = Math.ceil(maxBytes / 3) * 4;
  return text.length > encoded + Math.ceil(encoded / 64) * 2 + 4;
}

/** What each ASCII code is in base64 text; everything else (and non-ASCII) is invalid. */
const INVALID = 0;
const DATA = 1;
const STANDARD = 2; // + and /
const URL_SAFE = 3; // - and _
const PADDING = 4;
const SPACE = 5; // tab, line feed, vertical tab, form feed, carriage return, space
const classes = new Uint8Array(128);
for (const [from, to] of [
  ['A', 'Z'],
  ['a', 'z'],
  ['0', '9'],
] as const)
  classes.fill(DATA, from.charCodeAt(0), to.charCodeAt(0) + 1);
for (const char of '+/') classes[char.charCodeAt(0)] = STANDARD;
for (const char of '-_') classes[char.charCodeAt(0)] = URL_SAFE;
classes['='.charCodeAt(0)] = PADDING;
classes.fill(SPACE, 0x09, 0x0e);
classes[0x20] = SPACE;

/** The normalised text, or undefined when it is not valid base64. Linear, no regex. */
export function normaliseBase64(text: string): Base64Text | undefined {
  let standard = false;
  let urlSafe = false;
  let dataChars = 0;
  let padding = 0;
  // Whitespace is cut out by slicing around it: no per-character string building.
  const pieces: string[] = [];
  let pieceStart = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    const kind = code < 128 ? (classes[code] ?? INVALID) : INVALID;
    if (kind === DATA && padding === 0) {
      dataChars += 1;
      continue;
    }
    if (kind === SPACE) {
      if (index > pieceStart) pieces.push(text.slice(pieceStart, index));
      pieceStart = index + 1;
      continue;
    }
    if (kind === PADDING) {
      padding += 1;
      if (padding > 2) return undefined;
      continue;
    }
    // Padding only at the end: data after it is an error, not a second image.
    if (padding > 0 || kind === INVALID) return undefined;
    if (kind === STANDARD) standard = true;
    else if (kind === URL_SAFE) urlSafe = true;
    dataChars += 1;
  }
  if (standard && urlSafe) return undefined;
  // A single leftover character cannot encode a byte.
  if (dataChars % 4 === 1) return undefined;
  // Padding, when present, completes the last group of four.
  if (padding > 0 && (dataChars + padding) % 4 !== 0) return undefined;
  if (pieceStart < text.length) pieces.push(text.slice(pieceStart));
  const compact = pieces.length === 1 ? (pieces[0] ?? '') : pieces.join('');
  return { unpadded: compact.slice(0, compact.length - padding), urlSafe };
}

/** Decoded size of normalised base64 text, without decoding it. */
export function decodedSize(text: Base64Text): number {
  return Math.floor((text.unpadded.length * 3) / 4);
}

export function decodeBase64(text: Base64Text): Buffer {
  return Buffer.from(text.unpadded, text.urlSafe ? 'base64url' : 'base64');
}
