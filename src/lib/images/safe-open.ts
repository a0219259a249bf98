import { constants, type Stats } from 'node:fs';
import { lstat, open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { DeadlineError, withDeadline } from './deadline.ts';
import { resolveInsideRoot, within } from './root.ts';

/**
 * Opening a `path` source so that what is read is a regular file inside IMAGE_ROOT, even when
 * someone changes the tree between our checks and our reads:
 *
 * - the name is resolved and checked first (root.ts), and `lstat` refuses what is visibly not
 *   a regular file without opening it (opening a device can have effects of its own);
 * - the open uses O_NOFOLLOW (a final component swapped for a link fails) and O_NONBLOCK (a
 *   FIFO swapped in opens at once instead of waiting forever for a writer);
 * - fstat on the descriptor refuses anything but a regular file;
 * - the descriptor's own path (`/proc/self/fd/N`) must lie inside the root's real path:
 *   O_NOFOLLOW guards only the last component, and a directory on the way swapped for a link
 *   to elsewhere would otherwise be followed. Without /proc, the file the name resolves to
 *   now must be the very file held open (same device and inode), and inside the root.
 *
 * Every step is bounded by `timeoutMs` and the signal: a hung mount fails the job instead of
 * hanging it. A descriptor opened after giving up is closed when it arrives.
 */

export type SafeOpen =
  | { kind: 'file'; handle: FileHandle; size: number }
  | { kind: 'outside' | 'missing' | 'unreadable' | 'not-a-file' };

export interface Bounds {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

const openFlags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function errnoKind(error: unknown): 'missing' | 'outside' | 'unreadable' {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
  // ELOOP: the final component became a symlink after it was resolved.
  if (code === 'ELOOP') return 'outside';
  return 'unreadable';
}

/** Throws DeadlineError on timeout or abort; every other outcome is a SafeOpen. */
export async function openInsideRoot(
  root: string,
  path: string,
  bounds: Bounds,
): Promise<SafeOpen> {
  const bounded = <T>(promise: Promise<T>, late?: (value: T) => void): Promise<T> =>
    withDeadline(promise, bounds.timeoutMs, bounds.signal, late);

  const resolved = await bounded(resolveInsideRoot(root, path));
  if (resolved.kind !== 'inside') return resolved;
  const { realPath, realRoot } = resolved;
  try {
    if (!(await bounded(lstat(realPath))).isFile()) return { kind: 'not-a-file' };
  } catch (error) {
    if (error instanceof DeadlineError) throw error;
    return { kind: errnoKind(error) };
  }

  let handle: FileHandle;
  try {
    handle = await bounded(open(realPath, openFlags), (late) => void late.close().catch(ignore));
  } catch (error) {
    if (error instanceof DeadlineError) throw error;
    return { kind: errnoKind(error) };
  }
  try {
    const info = await bounded(handle.stat());
    if (!info.isFile()) return closed(handle, 'not-a-file');
    const actual = await bounded(descriptorPath(handle, realPath, info));
    if (actual === undefined || !within(realRoot, actual)) return closed(handle, 'outside');
    return { kind: 'file', handle, size: info.size };
  } catch (error) {
    void handle.close().catch(ignore);
    throw error;
  }
}

/** Where the open descriptor really points, or undefined when that cannot be established. */
async function descriptorPath(
  handle: FileHandle,
  realPath: string,
  info: Stats,
): Promise<string | undefined> {
  try {
    return await realpath(`/proc/self/fd/${String(handle.fd)}`);
  } catch {
    try {
      const again = await realpath(realPath);
      const now = await stat(again);
      return now.dev === info.dev && now.ino === info.ino ? again : undefined;
    } catch {
      return undefined;
    }
  }
}

function closed(handle: FileHandle, kind: 'outside' | 'not-a-file'): SafeOpen {
  // Not awaited: closing waits for pending operations on the handle, and there may be one.
  void handle.close().catch(ignore);
  return { kind };
}

function ignore(): void {
  // Closing a descriptor we no longer need: nothing to do if that fails.
}
