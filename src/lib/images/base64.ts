import { IMAGE_PIECE_BYTES, piecesOf, releasePieces, takePiece } from './pieces.ts';

/**
 * Inline images. Standard and URL-safe alphabets are accepted (not mixed), padded or not, and
 * ASCII whitespace (MIME- or PEM-wrapped base64) is ignored. Node's decoder silently skips
 * invalid characters, so the text is checked first: a typo must be an error, not a silently
 * truncated image.
 *
 * No regular expression runs over the text: an image at the 10 MiB limit is ~14 M characters,
 * and V8 throws `RangeError: Maximum call stack size exceeded` on patterns with alternation over
 * strings that long. The size is checked first (base64TooLong), then the decoded length
 * (base64Pieces), and only text that is not one unbroken line gets one loop over its bytes.
 */

/** Valid base64 text, as given (whitespace and padding included), and what it holds. */
interface Base64Text {
  text: string;
  /** Characters that carry data: not whitespace, not padding. */
  dataChars: number;
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
// 0: invalid (every code not set below).
const DATA = 1;
const STANDARD = 2; // + and /
const URL_SAFE = 3; // - and _
const PADDING = 4;
const SPACE = 5; // tab, line feed, vertical tab, form feed, carriage return, space
// 256 entries: every byte indexes inside it (an out-of-bounds read would deoptimise the loop).
const classes = new Uint8Array(256);
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

/**
 * The text checked, or undefined when it is not valid base64. Linear, no regex, and over bytes:
 * a loop of `charCodeAt` over a 14 M-character string costs ~200 ms here, the same loop over
 * a Buffer ~15 ms. The text is ASCII-only first (its UTF-8 length is its length), so its latin1
 * bytes are its characters.
 */
function normaliseBase64(text: string): Base64Text | undefined {
  if (Buffer.byteLength(text, 'utf8') !== text.length) return undefined;
  const bytes = Buffer.from(text, 'latin1');
  let standard = false;
  let urlSafe = false;
  let spaces = 0;
  let padding = 0;
  let firstPadding = -1;
  const length = bytes.length;
  // Nearly every byte is a letter or digit: that case is one lookup and one compare.
  for (let index = 0; index < length; index += 1) {
    const kind = classes[bytes[index]!]!;
    if (kind === DATA) continue;
    if (kind === SPACE) spaces += 1;
    else if (kind === PADDING) {
      padding += 1;
      if (firstPadding < 0) firstPadding = index;
    } else if (kind === STANDARD) standard = true;
    else if (kind === URL_SAFE) urlSafe = true;
    else return undefined;
  }
  // Padding only at the end (at most two, whitespace around them): data after it is an
  // error, not a second image.
  if (padding > 2) return undefined;
  if (firstPadding >= 0)
    for (let index = firstPadding; index < length; index += 1) {
      const kind = classes[bytes[index]!]!;
      if (kind !== PADDING && kind !== SPACE) return undefined;
    }
  const dataChars = length - spaces - padding;
  if (standard && urlSafe) return undefined;
  // A single leftover character cannot encode a byte.
  if (dataChars % 4 === 1) return undefined;
  // Padding, when present, completes the last group of four.
  if (padding > 0 && (dataChars + padding) % 4 !== 0) return undefined;
  return { text, dataChars, urlSafe };
}

/** Node's decoder skips whitespace and padding itself; the text was checked to hold no other. */
function decodeBase64(text: Base64Text): Buffer {
  return Buffer.from(text.text, text.urlSafe ? 'base64url' : 'base64');
}

/**
 * The bytes the text holds, in pieces (pieces.ts) of `pieceBytes` (a multiple of 3; tests use
 * small ones), or undefined when it is not valid base64 (normaliseBase64's rules).
 *
 * Nearly every image arrives as one unbroken line in one alphabet. Node's decoder skips what is
 * not base64 (so does whitespace), so such text decodes to exactly the bytes its length says,
 * and any skipped character makes it fewer (one fewer character always means fewer bytes, but
 * when a single character is left over: refused anyway). Decoded slice by slice, each slice
 * the base64 of one whole piece, the same holds for the total: a slice of 4k characters gives
 * 3k bytes only when every one of them is data. So for that text the whole check is a length
 * comparison and a look for the other alphabet, in native code: a few ms for 10 MiB where the
 * JS loop takes ~40. Any other text (wrapped lines, a stray character) takes the per-byte
 * check, so the rules are exactly the same either way (test/images-base64.test.ts compares
 * both on random corruptions), and is cut into views of its bytes.
 */
export function base64Pieces(text: string, pieceBytes = IMAGE_PIECE_BYTES): Buffer[] | undefined {
  const chars = (pieceBytes / 3) * 4;
  const pieces: Buffer[] = [];
  let decoded = 0;
  for (let at = 0; at < text.length; at += chars) {
    // Both alphabets: Node's decoder takes either.
    const piece = takePiece().subarray(0, pieceBytes);
    const written = piece.write(text.slice(at, at + chars), 'base64');
    pieces.push(piece.subarray(0, written));
    decoded += written;
  }
  if (isWholeLine(text, decoded)) return pieces.filter((piece) => piece.length > 0);
  releasePieces(pieces);
  const bytes = base64BytesChecked(text);
  return bytes === undefined ? undefined : piecesOf(bytes, pieceBytes);
}

/** The bytes by the per-byte check alone: what every text but one unbroken line takes. */
export function base64BytesChecked(text: string): Buffer | undefined {
  const normalised = normaliseBase64(text);
  return normalised === undefined ? undefined : decodeBase64(normalised);
}

/** Whether the text is one run of data characters of one alphabet, padded or not. */
function isWholeLine(text: string, decodedLength: number): boolean {
  const length = text.length;
  // ASCII only: Node's decoder reads a wider character by its low byte, so `Ł` (U+0141) would
  // pass for `A`. Counting UTF-8 bytes is one native pass.
  if (Buffer.byteLength(text, 'utf8') !== length) return false;
  const padding =
    length > 0 && text.charCodeAt(length - 1) === EQUALS
      ? length > 1 && text.charCodeAt(length - 2) === EQUALS
        ? 2
        : 1
      : 0;
  const data = length - padding;
  if (data % 4 === 1) return false;
  if (padding > 0 && length % 4 !== 0) return false;
  if (decodedLength !== Math.floor((data * 3) / 4)) return false;
  const standard = text.includes('+') || text.includes('/');
  return !(standard && (text.includes('-') || text.includes('_')));
}

const EQUALS = 0x3d;
