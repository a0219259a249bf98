import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';

export type Resolved =
  | { kind: 'inside'; realPath: string }
  | { kind: 'outside' }
  | { kind: 'missing' }
  | { kind: 'unreadable' };

function within(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Resolve a `path` source against the image root. The check runs on real paths (symlinks
 * followed, on both sides), so a link inside the root that points elsewhere is "outside".
 * A missing file that would lie outside anyway is reported as outside: the more useful
 * message, and it reveals nothing about what exists beyond the root.
 */
export async function resolveInsideRoot(root: string, path: string): Promise<Resolved> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return { kind: 'unreadable' };
  }
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
  return { kind: 'inside', realPath };
}
