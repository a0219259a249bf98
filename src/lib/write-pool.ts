import type { Socket } from 'node:net';

/**
 * Read buffers that come back once a socket has written them. An image upload reads its file
 * in 64 KiB chunks and hands each to undici, which writes it to the connection. A fresh buffer
 * per chunk is garbage as soon as it is written, but V8 frees such buffers only when a garbage
 * collection runs, which external memory alone starts only every ~64 MB: 20 uploads of 10 MiB
 * held +60–90 MiB of written chunks at their peak (issue 11, P3). So a chunk read from a file
 * is lent: the connection's socket (wrapped by `trackWrites` in the Esign agent's connector)
 * gives the buffer back to the pool when the write that carried it has completed, that is when
 * the socket no longer needs its bytes (written to the kernel, or the write was dropped with a
 * destroyed socket). A chunk that never reaches a tracked socket's write (an upload that
 * stopped early, a chunk some layer copied) is never given back: it is ordinary garbage then,
 * never reused while anything may still read it.
 */

export const POOLED_CHUNK_BYTES = 64 * 1024;
/** Idle buffers kept for the next reads (4 MiB); beyond that a returned one is dropped. */
const MAX_IDLE = 64;

const idle: Buffer[] = [];
/** A chunk handed on to be written → the pooled buffer it is a view of. */
const lent = new WeakMap<Buffer, Buffer>();

/** A buffer of POOLED_CHUNK_BYTES to read into: an idle one, or a new one. */
export function takeBuffer(): Buffer {
  return idle.pop() ?? Buffer.allocUnsafeSlow(POOLED_CHUNK_BYTES);
}

/** Back to the pool: only a buffer nothing can still read or write (e.g. a read that found EOF). */
export function giveBack(buffer: Buffer): void {
  if (idle.length < MAX_IDLE && buffer.length === POOLED_CHUNK_BYTES) idle.push(buffer);
}

/** `chunk` (a view of `buffer`) is about to be written: `buffer` returns once it has been. */
export function lend(chunk: Buffer, buffer: Buffer): void {
  lent.set(chunk, buffer);
}

/** How many buffers wait idle in the pool (for tests). */
export function idleBuffers(): number {
  return idle.length;
}

type WriteCallback = (error?: Error | null) => void;

/**
 * Make `socket` give lent chunks back once their write completes. A Writable calls a write's
 * callback only after that chunk is written through (or dropped on destroy, never handed to
 * the OS): until then the chunk stays lent.
 */
export function trackWrites(socket: Socket): void {
  const write = socket.write.bind(socket) as (
    chunk: unknown,
    encoding?: BufferEncoding,
    callback?: WriteCallback,
  ) => boolean;
  socket.write = (
    chunk: unknown,
    encodingOrCallback?: BufferEncoding | WriteCallback,
    callback?: WriteCallback,
  ): boolean => {
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    const encoding = typeof encodingOrCallback === 'function' ? undefined : encodingOrCallback;
    const buffer = Buffer.isBuffer(chunk) ? lent.get(chunk) : undefined;
    if (buffer === undefined) return write(chunk, encoding, done);
    lent.delete(chunk as Buffer);
    return write(chunk, encoding, (error) => {
      giveBack(buffer);
      done?.(error);
    });
  };
}
