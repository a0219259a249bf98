import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resolveInsideRoot } from '../src/lib/images/root.ts';
import { openInsideRoot } from '../src/lib/images/safe-open.ts';
import { syntheticJpeg } from '../sandbox/synthetic-images.ts';

/**
 * The races of images-path-safety.test.ts made deterministic: what a check saw is replayed
 * from before a swap, so only the checks made on the open descriptor itself stand between the
 * worker and the swapped-in thing. A directory on the way becomes a symlink to elsewhere after
 * the name was checked; a FIFO replaces the file after lstat saw a regular file.
 */
vi.mock('../src/lib/images/root.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/lib/images/root.ts')>();
  return { ...actual, resolveInsideRoot: vi.fn(actual.resolveInsideRoot) };
});
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, lstat: vi.fn(actual.lstat) };
});

let base: string;
let root: string;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'images-path-swap-')));
  root = join(base, 'root');
  await mkdir(join(root, 'd'), { recursive: true });
  await mkdir(join(base, 'elsewhere'), { recursive: true });
  await writeFile(join(root, 'd', 'ktp.jpg'), syntheticJpeg(51));
  await writeFile(join(base, 'elsewhere', 'ktp.jpg'), syntheticJpeg(52));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('openInsideRoot', () => {
  it('refuses a descriptor that ended up outside the root through a swapped directory', async () => {
    const checked = await resolveInsideRoot(root, 'd/ktp.jpg');
    expect(checked).toMatchObject({ kind: 'inside', realPath: join(root, 'd', 'ktp.jpg') });
    // The swap, after the check: d is now a link to a directory outside the root.
    await rm(join(root, 'd'), { recursive: true });
    await symlink(join(base, 'elsewhere'), join(root, 'd'));
    vi.mocked(resolveInsideRoot).mockResolvedValueOnce(checked);

    const opened = await openInsideRoot(root, 'd/ktp.jpg', { timeoutMs: 2_000 });
    expect(opened).toEqual({ kind: 'outside' });
  });

  it('refuses a FIFO that replaced the file after lstat, without waiting for a writer', async () => {
    await writeFile(join(root, 'late.jpg'), syntheticJpeg(53));
    const sawFile = await lstat(join(root, 'late.jpg'));
    await rm(join(root, 'late.jpg'));
    execFileSync('mkfifo', [join(root, 'late.jpg')]);
    vi.mocked(lstat).mockResolvedValueOnce(sawFile);

    const started = performance.now();
    const opened = await openInsideRoot(root, 'late.jpg', { timeoutMs: 20_000 });
    expect(opened).toEqual({ kind: 'not-a-file' });
    // O_NONBLOCK: refused by fstat at once, not by the deadline.
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('opens the same layout when the directory is real', async () => {
    await rm(join(root, 'd'));
    await mkdir(join(root, 'd'));
    await writeFile(join(root, 'd', 'ktp.jpg'), syntheticJpeg(51));
    const opened = await openInsideRoot(root, 'd/ktp.jpg', { timeoutMs: 2_000 });
    expect(opened.kind).toBe('file');
    if (opened.kind === 'file') await opened.handle.close();
  });
});
