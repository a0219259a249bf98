/** The formats Esign accepts for KTP and SELFIE (esign-api.md §5). */
export type ImageContentType = 'image/jpeg' | 'image/png';

const jpegMagic = [0xff, 0xd8, 0xff];
const pngMagic = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Bytes needed to recognise any accepted format. */
export const sniffLength = pngMagic.length;

function startsWith(head: Uint8Array, magic: readonly number[]): boolean {
  return head.length >= magic.length && magic.every((byte, index) => head[index] === byte);
}

/**
 * The image type from its first bytes. Names and Content-Type headers are never trusted:
 * a mislabelled file would be rejected by Esign after a paid-for submission.
 */
export function sniffImageType(head: Uint8Array): ImageContentType | undefined {
  if (startsWith(head, jpegMagic)) return 'image/jpeg';
  if (startsWith(head, pngMagic)) return 'image/png';
  return undefined;
}
