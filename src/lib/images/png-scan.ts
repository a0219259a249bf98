import { crc32 } from 'node:zlib';
import {
  checkDimensions,
  checkPadding,
  ImageProblem,
  type DimensionLimits,
  type FormatScanner,
} from './scan-common.ts';

/**
 * The structure of a PNG (ISO/IEC 15948): the 8-byte signature, then chunks of
 * length (4) · type (4) · data · CRC-32 of type and data. IHDR comes first (13 bytes: width,
 * height, bit depth, colour type, compression, filter, interlace), at least one IDAT follows,
 * and IEND (empty) ends the file; nothing may follow it but zeros. Every chunk's CRC is
 * checked: it is native and cheap, and a wrong one means a damaged or spliced file. Unknown
 * critical chunks (type starting upper-case) are refused, as any decoder would.
 */

const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const knownCritical = new Set(['IHDR', 'PLTE', 'IDAT', 'IEND']);
/** Bit depths allowed per colour type (table 11.1). */
const bitDepths: Record<number, readonly number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const maxChunkLength = 0x7fffffff;

type State = 'signature' | 'header' | 'data' | 'crc' | 'done';

const malformed = (what: string): ImageProblem => new ImageProblem(`is a malformed PNG (${what})`);

function isLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

export function createPngScanner(limits: DimensionLimits): FormatScanner {
  let state: State = 'signature';
  /** Fixed-size pieces (signature, chunk header, CRC) gathered across pushes. */
  const piece = new Uint8Array(8);
  let pieceLength = 0;
  const ihdr = new Uint8Array(13);
  let chunkIndex = 0;
  let type = '';
  let remaining = 0;
  let dataRead = 0;
  let crc = 0;
  let colourType = -1;
  let sawPalette = false;
  let sawData = false;
  let dimensions: { width: number; height: number } | undefined;

  const readUint32 = (bytes: Uint8Array, at: number): number =>
    (((bytes[at] ?? 0) << 24) |
      ((bytes[at + 1] ?? 0) << 16) |
      ((bytes[at + 2] ?? 0) << 8) |
      (bytes[at + 3] ?? 0)) >>>
    0;

  function startChunk(): void {
    const length = readUint32(piece, 0);
    const typeBytes = piece.subarray(4, 8);
    type = String.fromCharCode(...typeBytes);
    if (chunkIndex === 0 && type !== 'IHDR') throw malformed('IHDR is not the first chunk');
    if (length > maxChunkLength) throw malformed('a chunk length over 2^31-1');
    if (!typeBytes.every(isLetter)) throw malformed('an invalid chunk type');
    if (type === 'IHDR' && (chunkIndex !== 0 || length !== 13))
      throw malformed('a misplaced or mis-sized IHDR');
    const critical = ((typeBytes[0] ?? 0) & 0x20) === 0;
    if (critical && !knownCritical.has(type)) throw malformed('an unknown critical chunk');
    if (type === 'IDAT' && colourType === 3 && !sawPalette) throw malformed('IDAT before PLTE');
    if (type === 'IDAT') sawData = true;
    if (type === 'IEND' && (length !== 0 || !sawData)) throw malformed('a misplaced IEND');
    crc = crc32(typeBytes);
    remaining = length;
    dataRead = 0;
    state = length === 0 ? 'crc' : 'data';
  }

  function checkHeader(): void {
    const depth = ihdr[8] ?? 0;
    colourType = ihdr[9] ?? -1;
    if (!(bitDepths[colourType] ?? []).includes(depth))
      throw malformed('an invalid bit depth or colour type');
    if (ihdr[10] !== 0 || ihdr[11] !== 0 || (ihdr[12] ?? 2) > 1)
      throw malformed('an invalid compression, filter or interlace method');
    dimensions = checkDimensions(readUint32(ihdr, 0), readUint32(ihdr, 4), limits);
  }

  function endChunk(): void {
    if (readUint32(piece, 0) !== crc >>> 0) throw malformed(`a bad CRC in ${type}`);
    if (type === 'IHDR') checkHeader();
    if (type === 'PLTE') sawPalette = true;
    chunkIndex += 1;
    state = type === 'IEND' ? 'done' : 'header';
  }

  /** Gather up to `size` bytes into `piece`; returns how many were taken from `bytes`. */
  function gather(bytes: Uint8Array, index: number, size: number): number {
    const take = Math.min(size - pieceLength, bytes.length - index);
    piece.set(bytes.subarray(index, index + take), pieceLength);
    pieceLength += take;
    return take;
  }

  function push(bytes: Uint8Array): void {
    let index = 0;
    while (index < bytes.length) {
      switch (state) {
        case 'signature':
          index += gather(bytes, index, 8);
          if (pieceLength === 8) {
            if (!signature.every((byte, at) => piece[at] === byte)) throw malformed('no signature');
            pieceLength = 0;
            state = 'header';
          }
          break;
        case 'header':
          index += gather(bytes, index, 8);
          if (pieceLength === 8) {
            pieceLength = 0;
            startChunk();
          }
          break;
        case 'data': {
          const take = Math.min(remaining, bytes.length - index);
          const data = bytes.subarray(index, index + take);
          crc = crc32(data, crc);
          if (type === 'IHDR') ihdr.set(data, dataRead);
          dataRead += take;
          remaining -= take;
          index += take;
          if (remaining === 0) state = 'crc';
          break;
        }
        case 'crc':
          index += gather(bytes, index, 4);
          if (pieceLength === 4) {
            pieceLength = 0;
            endChunk();
          }
          break;
        case 'done':
          checkPadding(bytes, index, 'PNG');
          index = bytes.length;
          break;
      }
    }
  }

  return {
    push,
    end() {
      if (state !== 'done') throw new ImageProblem('is a truncated PNG (no IEND)');
    },
    get dimensions() {
      return dimensions;
    },
  };
}
