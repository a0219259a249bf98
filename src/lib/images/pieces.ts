/**
 * An image held in memory as pieces taken in order, never joined: decoded from base64 piece by
 * piece, checked by a scanner fed piece by piece, stored and sealed piece by piece
 * (registration/image-store.ts), and sent as a stream of its pieces.
 *
 * Why not one buffer: a 10 MiB buffer is above the size at which allocators map fresh memory
 * for each allocation and give it back when freed (jemalloc's 8 MiB "oversize" arena in Redis,
 * glibc's mmap threshold in Node), so each image touched every page anew; on a VM a page fault
 * costs ~10–20 µs here, ~30 ms per 10 MiB copy. Pieces of 1 MiB reuse memory already mapped.
 */

/**
 * Bytes per piece: a multiple of 3, so base64 text splits on piece boundaries too, and 76 bytes
 * under 1 MiB, so a sealed piece with Redis's string header fits jemalloc's 1 MiB size class
 * (one byte over takes the 1.25 MiB class). A 10 MiB image is 11 pieces.
 */
export const IMAGE_PIECE_BYTES = 3 * 349_500;

export type ImagePieces = readonly Buffer[];

/** Views of `bytes` in pieces of `pieceBytes` (no copy). */
export function piecesOf(bytes: Buffer, pieceBytes = IMAGE_PIECE_BYTES): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += pieceBytes)
    pieces.push(bytes.subarray(at, at + pieceBytes));
  return pieces;
}

export function lengthOf(pieces: ImagePieces): number {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  return length;
}

/**
 * Decoded pieces are lent from a small pool and given back once stored (the decode into a
 * fresh 10 MiB each enqueue was most of its cost: fresh pages). Only buffers the pool lent come
 * back; a piece never given back (a request refused, an enqueue that failed) is garbage.
 */
const MAX_IDLE_PIECES = 22; // two images at the 10 MiB default limit
const idle: Buffer[] = [];
const lent = new WeakSet<ArrayBufferLike>();

/** A buffer of IMAGE_PIECE_BYTES to decode into: an idle one, or a new one. */
export function takePiece(): Buffer {
  const piece = idle.pop() ?? Buffer.allocUnsafeSlow(IMAGE_PIECE_BYTES);
  lent.add(piece.buffer);
  return piece;
}

/** Back to the pool: pieces nothing reads any more (their image is stored). */
export function releasePieces(pieces: ImagePieces): void {
  for (const piece of pieces)
    if (lent.delete(piece.buffer) && idle.length < MAX_IDLE_PIECES)
      idle.push(Buffer.from(piece.buffer, 0, IMAGE_PIECE_BYTES));
}
