/** What the format scanners share: limits, the problem type, the size and padding rules. */

export interface DimensionLimits {
  minWidth: number;
  minHeight: number;
  maxWidth: number;
  maxHeight: number;
}

/** Big enough for a readable KTP or face, small enough to refuse decompression bombs. */
export const defaultDimensionLimits: DimensionLimits = {
  minWidth: 100,
  minHeight: 100,
  maxWidth: 10_000,
  maxHeight: 10_000,
};

/**
 * Why bytes are not an acceptable image. `reason` completes "<what> …", e.g. "is a truncated
 * JPEG"; it names format facts only, never bytes of the image.
 */
export class ImageProblem extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`image ${reason}`);
    this.name = 'ImageProblem';
    this.reason = reason;
  }
}

export const notJpegOrPng = (): ImageProblem => new ImageProblem('is not a JPEG or PNG image');

/** The incremental checker of one format. Every method throws ImageProblem when it must. */
export interface FormatScanner {
  /** Feed the next bytes, in order, each byte exactly once. */
  push(bytes: Uint8Array): void;
  /** No more bytes: throws unless what was fed is one whole image. */
  end(): void;
  /** Width and height once the header that carries them was read (and passed the limits). */
  readonly dimensions: { width: number; height: number } | undefined;
}

/** The shared size rule of both formats. */
export function checkDimensions(
  width: number,
  height: number,
  limits: DimensionLimits,
): { width: number; height: number } {
  if (
    width < limits.minWidth ||
    height < limits.minHeight ||
    width > limits.maxWidth ||
    height > limits.maxHeight
  )
    throw new ImageProblem(
      `is ${width}x${height} pixels, outside the allowed ${limits.minWidth}x${limits.minHeight} to ${limits.maxWidth}x${limits.maxHeight}`,
    );
  return { width, height };
}

/**
 * After the end marker only zero bytes may follow: some tools pad files to a block size, and
 * zeros carry nothing. Anything else (a second file, a script, an archive) is refused.
 */
export function checkPadding(bytes: Uint8Array, from: number, format: string): void {
  for (let index = from; index < bytes.length; index += 1)
    if (bytes[index] !== 0) throw new ImageProblem(`has data after the end of the ${format}`);
}
