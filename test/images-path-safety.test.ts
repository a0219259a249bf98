import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isWorkerError, type WorkerError } from '../src/lib/errors.ts';
import { boundedFileReads, DeadlineError } from '../src/lib/images/deadline.ts';
import { checkImageSource, openImage, type ImagePolicy } from '../src/lib/images/index.ts';
import { syntheticJpeg } from '../sandbox/synthetic-images.ts';

/**
 * Issue "KYC data protection", hole 3: a FIFO swapped into IMAGE_ROOT hung the upload forever
 * (and SIGTERM with it), and swapping a directory inside the root for a symlink to elsewhere
 * made 3.7% of opens read the outside file (O_NOFOLLOW guards only the last component).
 */
const inside = syntheticJpeg(41);
const outside = syntheticJpeg(42);

let base: string;
let root: string;
let policy: ImagePolicy;
const children: ChildProcess[] = [];

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'images-path-safety-'));
  root = join(base, 'root');
  await mkdir(join(root, 'd'), { recursive: true });
  await mkdir(join(base, 'elsewhere', 'd'), { recursive: true });
  await writeFile(join(root, 'ktp.jpg'), inside);
  await writeFile(join(root, 'd', 'ktp.jpg'), inside);
  await writeFile(join(base, 'elsewhere', 'd', 'ktp.jpg'), outside);
  await symlink(join(base, 'elsewhere', 'd'), join(root, 'linked'));
  execFileSync('mkfifo', [join(root, 'pipe.jpg')]);
  policy = { root, allowedHosts: [], maxBytes: 1_000_000, readTimeoutMs: 2_000 };
});

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** The promise's outcome, or a failure if it has not settled within `ms`: a hang is a bug. */
async function settlesWithin<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

async function outcome(path: string): Promise<Buffer | WorkerError> {
  try {
    const opened = await openImage('KTP', { path }, policy);
    return Buffer.concat((await opened.stream.toArray()) as Buffer[]);
  } catch (error) {
    if (isWorkerError(error)) return error;
    throw error;
  }
}

/** A child process that swaps directory entries by rename for as long as it runs. */
function swapper(script: string): ChildProcess {
  const child = spawn(process.execPath, ['-e', script], { cwd: root, stdio: 'ignore' });
  children.push(child);
  return child;
}

describe('path sources: what is actually opened', () => {
  it('accepts a regular file inside the root', async () => {
    const read = await outcome('ktp.jpg');
    expect(Buffer.isBuffer(read) && read.equals(inside)).toBe(true);
  });

  it('refuses a FIFO at once with a clear error, at enqueue and at upload', async () => {
    expect(
      await settlesWithin(1_000, checkImageSource('ktp', { path: 'pipe.jpg' }, policy)),
    ).toEqual(['images.ktp: path is not a regular file']);
    const error = await settlesWithin(1_000, outcome('pipe.jpg'));
    expect(isWorkerError(error) && [error.code, error.retryable, error.message]).toEqual([
      'IMAGE_SOURCE_FAILED',
      false,
      'KTP image path is not a regular file',
    ]);
  });

  it('never hangs while a FIFO is swapped in and out for the file', async () => {
    await writeFile(join(root, 'swap-file'), inside);
    execFileSync('mkfifo', [join(root, 'swap-fifo')]);
    swapper(`
      const { renameSync: mv } = require('node:fs');
      for (;;) { mv('swap-file', 'swap.jpg'); mv('swap.jpg', 'swap-file');
                 mv('swap-fifo', 'swap.jpg'); mv('swap.jpg', 'swap-fifo'); }`);
    // Most attempts meet a FIFO or a missing name (the swap is fast); what matters is that
    // every one settles at once, and that whatever is read is the file.
    for (let i = 0; i < 150; i += 1) {
      const result = await settlesWithin(3_000, outcome('swap.jpg'));
      if (Buffer.isBuffer(result)) expect(result.equals(inside)).toBe(true);
      else expect(result.retryable).toBe(false);
    }
  });

  it('refuses a symlinked directory that points outside the root', async () => {
    expect(await checkImageSource('ktp', { path: 'linked/ktp.jpg' }, policy)).toEqual([
      'images.ktp: path must be inside the image root',
    ]);
    const error = await outcome('linked/ktp.jpg');
    expect(isWorkerError(error) && [error.code, error.message]).toEqual([
      'IMAGE_SOURCE_FAILED',
      'KTP image path is outside the image root',
    ]);
  });

  it('never reads the outside file while a directory is swapped for a symlink', async () => {
    await symlink(join(base, 'elsewhere', 'd'), join(root, 'd-link'));
    swapper(`
      const { renameSync: mv } = require('node:fs');
      for (;;) { mv('d', 'd-real'); mv('d-link', 'd'); mv('d', 'd-link'); mv('d-real', 'd'); }`);
    const counts = { inside: 0, outside: 0, refused: 0 };
    for (let i = 0; i < 400; i += 1) {
      const result = await settlesWithin(3_000, outcome('d/ktp.jpg'));
      if (!Buffer.isBuffer(result)) counts.refused += 1;
      else if (result.equals(outside)) counts.outside += 1;
      else if (result.equals(inside)) counts.inside += 1;
    }
    expect(counts.outside).toBe(0);
    expect(counts.inside).toBeGreaterThan(0);
  });
});

describe('bounded reads', () => {
  it('gives up on a read that never returns, and on abort', async () => {
    // A FIFO opened read-write: a read waits for a writer's bytes, forever if none come (as a
    // hung mount would). Written to afterwards, so the thread-pool reads end with the test.
    const dir = await mkdtemp(join(tmpdir(), 'esign-bounded-'));
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = await open(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      const stuck = await open(fifo, constants.O_RDWR);
      const timedOut = await boundedFileReads(stuck, 100, undefined)
        .next()
        .catch((error: unknown) => error);
      expect(timedOut).toBeInstanceOf(DeadlineError);
      expect((timedOut as DeadlineError).reason).toBe('timeout');

      const controller = new AbortController();
      const waiting = boundedFileReads(
        await open(fifo, constants.O_RDWR),
        60_000,
        controller.signal,
      )
        .next()
        .catch((error: unknown) => error);
      controller.abort();
      expect(((await waiting) as DeadlineError).reason).toBe('aborted');
    } finally {
      // Non-blocking, a pipe's worth at a time: enough for both abandoned reads to return.
      for (let write = 0; write < 4; write += 1) {
        await writer.write(Buffer.alloc(64 * 1024)).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await writer.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
