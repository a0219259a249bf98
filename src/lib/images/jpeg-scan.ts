import {
  checkDimensions,
  checkPadding,
  ImageProblem,
  type DimensionLimits,
  type FormatScanner,
} from './scan-common.ts';

/**
 * The structure of a JPEG (ITU T.81, Annex B): SOI, then marker segments (each `FF xx` with a
 * two-byte length), exactly one frame header (SOFn, carrying height and width), one or more
 * scans (SOS, then entropy-coded data in which `FF 00` is a stuffed byte and `FF D0`–`FF D7`
 * are restart markers), and EOI. Segment payloads are skipped by their length, so an EXIF
 * thumbnail (a whole JPEG inside APP1) is just payload. Nothing may follow EOI but zeros.
 */

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const TEM = 0x01;

/** SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range. */
function isFrameHeader(code: number): boolean {
  return code >= 0xc0 && code <= 0xcf && code !== 0xc4 && code !== 0xc8 && code !== 0xcc;
}

function isRestart(code: number): boolean {
  return code >= 0xd0 && code <= 0xd7;
}

type State =
  | 'soi-ff'
  | 'soi-d8'
  | 'marker'
  | 'code'
  | 'length-high'
  | 'length-low'
  | 'payload'
  | 'scan'
  | 'scan-ff'
  | 'done';

const malformed = (what: string): ImageProblem => new ImageProblem(`is a malformed JPEG (${what})`);

export function createJpegScanner(limits: DimensionLimits): FormatScanner {
  let state: State = 'soi-ff';
  let code = 0;
  let lengthHigh = 0;
  let remaining = 0;
  /** The first five bytes of a frame header: precision, height (2), width (2). */
  const frame: number[] = [];
  let dimensions: { width: number; height: number } | undefined;
  let scanned = false;

  /** A marker code read after `FF`, outside or at the end of entropy-coded data. */
  function onMarker(marker: number): void {
    if (marker === 0xff) {
      state = 'code'; // fill byte: the code comes next
    } else if (marker === SOI) {
      throw malformed('a second start of image');
    } else if (marker === EOI) {
      if (!dimensions || !scanned) throw malformed('it ends before any image data');
      state = 'done';
    } else if (isRestart(marker) || marker === TEM) {
      state = 'marker'; // standalone markers, no length
    } else if (marker < 0xc0) {
      // 0x00 outside a scan and 0x02–0xBF are reserved: not a JPEG stream.
      throw malformed('an invalid marker');
    } else {
      code = marker;
      state = 'length-high';
    }
  }

  function endSegment(): void {
    if (isFrameHeader(code)) {
      if (dimensions) throw malformed('more than one frame');
      if (frame.length < 5) throw malformed('a short frame header');
      const [, heightHigh = 0, heightLow = 0, widthHigh = 0, widthLow = 0] = frame;
      // A height of 0 (defined later by DNL) falls below any minimum: refused with the size.
      dimensions = checkDimensions(
        (widthHigh << 8) | widthLow,
        (heightHigh << 8) | heightLow,
        limits,
      );
      state = 'marker';
    } else if (code === SOS) {
      if (!dimensions) throw malformed('image data before the frame header');
      scanned = true;
      state = 'scan';
    } else {
      state = 'marker';
    }
  }

  function push(bytes: Uint8Array): void {
    let index = 0;
    while (index < bytes.length) {
      switch (state) {
        case 'soi-ff':
        case 'soi-d8': {
          const expected = state === 'soi-ff' ? 0xff : SOI;
          if (bytes[index++] !== expected) throw malformed('no start of image');
          state = state === 'soi-ff' ? 'soi-d8' : 'marker';
          break;
        }
        case 'marker':
          if (bytes[index++] !== 0xff) throw malformed('data where a marker belongs');
          state = 'code';
          break;
        case 'code':
          onMarker(bytes[index++] ?? 0);
          break;
        case 'length-high':
          lengthHigh = bytes[index++] ?? 0;
          state = 'length-low';
          break;
        case 'length-low': {
          const length = (lengthHigh << 8) | (bytes[index++] ?? 0);
          if (length < 2) throw malformed('a segment length below 2');
          remaining = length - 2;
          frame.length = 0;
          if (remaining === 0) endSegment();
          else state = 'payload';
          break;
        }
        case 'payload': {
          if (isFrameHeader(code) && frame.length < 5) {
            frame.push(bytes[index++] ?? 0);
            remaining -= 1;
          } else {
            const take = Math.min(remaining, bytes.length - index);
            index += take;
            remaining -= take;
          }
          if (remaining === 0) endSegment();
          break;
        }
        case 'scan': {
          // Entropy-coded data is most of the file: jump to the next FF natively.
          const next = bytes.indexOf(0xff, index);
          if (next === -1) index = bytes.length;
          else {
            index = next + 1;
            state = 'scan-ff';
          }
          break;
        }
        case 'scan-ff': {
          const next = bytes[index++] ?? 0;
          if (next === 0x00 || isRestart(next)) state = 'scan';
          else if (next !== 0xff) onMarker(next); // FF FF: fill, stay
          break;
        }
        case 'done':
          checkPadding(bytes, index, 'JPEG');
          index = bytes.length;
          break;
      }
    }
  }

  return {
    push,
    end() {
      if (state !== 'done') throw new ImageProblem('is a truncated JPEG (no end of image)');
    },
    get dimensions() {
      return dimensions;
    },
  };
}
