import type { Readable } from 'node:stream';
import type { ImageContentType } from './sniff.ts';

/**
 * An image ready to upload. The length is always known because presigned S3-style PUTs need
 * a Content-Length (no chunked uploads); the stream fails rather than deliver another count.
 */
export interface OpenedImage {
  stream: Readable;
  contentType: ImageContentType;
  contentLength: number;
}
