import { createJpegScanner } from './jpeg-scan.ts';
import { createPngScanner } from './png-scan.ts';
import { notJpegOrPng, type DimensionLimits, type FormatScanner } from './scan-common.ts';
import { sniffImageType, sniffLength, type ImageContentType } from './sniff.ts';

export { defaultDimensionLimits, ImageProblem, type DimensionLimits } from './scan-common.ts';

/**
 * Whole-image checks. First bytes only say what a file claims to be: `FF D8 FF` followed by
 * HTML, a PNG signature followed by a ZIP, three bytes, or a PNG header announcing
 * 100000x100000 pixels all "look like" images. A scanner walks the format's structure as the
 * bytes go by (one image never needs to be held to be checked) and refuses anything that is
 * not exactly one whole image: truncated, with data after its end, malformed, or outside the
 * size limits. Pixels are not decoded; Esign does that, and a broken pixel stream is its call.
 */

export interface ImageScanner extends FormatScanner {
  readonly contentType: ImageContentType;
}

/**
 * A scanner for the format the first bytes announce. `head` must hold at least sniffLength
 * bytes (or every byte there is); it is not fed: push it like any other bytes.
 */
export function createScanner(head: Uint8Array, limits: DimensionLimits): ImageScanner {
  const contentType = sniffImageType(head);
  if (contentType === undefined) throw notJpegOrPng();
  const format =
    contentType === 'image/jpeg' ? createJpegScanner(limits) : createPngScanner(limits);
  return {
    contentType,
    push: (bytes) => format.push(bytes),
    end: () => format.end(),
    get dimensions() {
      return format.dimensions;
    },
  };
}

export interface InspectedImage {
  contentType: ImageContentType;
  width: number;
  height: number;
}

/**
 * Check bytes held in memory (base64, a buffered download, stored pieces), whole or in pieces
 * taken in order. Throws ImageProblem.
 */
export function inspectImage(
  bytes: Uint8Array | readonly Uint8Array[],
  limits: DimensionLimits,
): InspectedImage {
  const pieces = bytes instanceof Uint8Array ? [bytes] : bytes;
  const scanner = createScanner(headOf(pieces), limits);
  for (const piece of pieces) scanner.push(piece);
  scanner.end();
  const { width, height } = scanner.dimensions ?? { width: 0, height: 0 };
  return { contentType: scanner.contentType, width, height };
}

/** The first sniffLength bytes (or all there are) of pieces taken in order. */
function headOf(pieces: readonly Uint8Array[]): Uint8Array {
  const first = pieces[0] ?? new Uint8Array(0);
  if (first.length >= sniffLength || pieces.length < 2) return first.subarray(0, sniffLength);
  return Buffer.concat(pieces.slice(0, sniffLength)).subarray(0, sniffLength);
}
