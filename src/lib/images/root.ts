import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';

export type Resolved =
  | { kind: 'inside'; realPath: string; realRoot: string }
  | { kind: 'outside' }
  | { kind: 'missing' }
  | { kind: 'unreadable' };

/** Whether `target` is `root` or lies below it (both absolute, no `..`). */
export function within(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * The root's real path, resolved once per process and kept: every open compares against it,
 * and it must not be re-resolved through a link that someone could re-point meanwhile. Moving
 * IMAGE_ROOT itself therefore needs a restart. Failures are not kept (the root may appear).
 */
const realRoots = new Map<string, string>();

export async function realRootOf(root: string): Promise<string | undefined> {
  const key = resolve(root);
  const known = realRoots.get(key);
  if (known !== undefined) return known;
  try {
    const real = await realpath(key);
    realRoots.set(key, real);
    return real;
  } catch {
    return undefined;
  }
}

/**
 * Resolve a `path` source against the image root. The check runs on real paths (symlinks
 * followed, on both sides), so a link inside the root that points elsewhere is "outside".
 * A missing file that would lie outside anyway is reported as outside: the more useful
 * message, and it reveals nothing about what exists beyond the root. This is a check of the
 * name only; what is actually opened is verified again on the descriptor (safe-open.ts).
 */
export async function resolveInsideRoot(root: string, path: string): Promise<Resolved> {
  const realRoot = await realRootOf(root);
  if (realRoot === undefined) return { kind: 'unreadable' };
  const lexical = resolve(root, path);
  let realPath: string;
  try {
    realPath = await realpath(lexical);
  } catch (error) {
    if (!within(resolve(root), lexical) && !within(realRoot, lexical)) return { kind: 'outside' };
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? { kind: 'missing' } : { kind: 'unreadable' };
  }
  if (!within(realRoot, realPath)) return { kind: 'outside' };
  return { kind: 'inside', realPath, realRoot };
}
