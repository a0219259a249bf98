/**
 * Inline images. Standard and URL-safe alphabets are accepted, padded or not, and line breaks
 * (MIME-wrapped base64) are ignored. Node's decoder silently skips invalid characters, so the
 * text is checked first: a typo must be an error, not a silently truncated image.
 */

const base64Text = /^(?:[A-Za-z0-9+/]|[A-Za-z0-9\-_])*$/;

/** The base64 text without whitespace, or undefined when it is not valid base64. */
export function normaliseBase64(text: string): string | undefined {
  const compact = text.replace(/\s+/g, '');
  const unpadded = compact.replace(/={1,2}$/, '');
  if (!base64Text.test(unpadded)) return undefined;
  if (/[+/]/.test(unpadded) && /[-_]/.test(unpadded)) return undefined;
  // A single leftover character cannot encode a byte.
  if (unpadded.length % 4 === 1) return undefined;
  if (compact.length !== unpadded.length && compact.length % 4 !== 0) return undefined;
  return unpadded;
}

/** Decoded size of normalised (unpadded) base64 text, without decoding it. */
export function decodedSize(unpadded: string): number {
  return Math.floor((unpadded.length * 3) / 4);
}

export function decodeBase64(unpadded: string): Buffer {
  return Buffer.from(unpadded, /[-_]/.test(unpadded) ? 'base64url' : 'base64');
}
