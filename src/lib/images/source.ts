import { z } from 'zod';
import type { DocumentType } from '../esign/schemas.ts';

/** Where one image of a registration comes from: exactly one of a file, a URL or inline bytes. */
export type ImageSource = { path: string } | { url: string } | { base64: string };

/**
 * What the worker may read images from, and how much of them. Built from the pipeline config
 * (policy.ts); the optional fields default to the safe choice, so a hand-built policy is never
 * more permissive than the configuration would be.
 */
export interface ImagePolicy {
  /** Directory that `path` sources resolve against and must stay inside (after symlinks). */
  root: string;
  /** `host` (port 443), `host:port` or `host:*` entries that `url` sources may point at. */
  allowedHosts: readonly string[];
  /** Largest image accepted, in bytes, whatever the source kind. */
  maxBytes: number;
  /** Idle timeout for fetching a `url` source (headers, then each body read), in ms. */
  fetchTimeoutMs?: number;
  /** Bound on each step of opening and each read of a `path` source, in ms. */
  readTimeoutMs?: number;
  /** Allow `http:` URLs (default: https only). */
  allowHttp?: boolean;
  /** Allow connecting to loopback, private, CGNAT and ULA addresses (default: refused). */
  allowPrivateNetworks?: boolean;
  /** Pixel limits of an image; default 100x100 to 10000x10000. */
  minWidth?: number;
  minHeight?: number;
  maxWidth?: number;
  maxHeight?: number;
}

/** `images.ktp` in checks and requests; `KTP` in the Esign API and worker errors. */
export type CheckDocument = 'ktp' | 'selfie';
export type ImageDocument = DocumentType;

const sourceKeys = ['path', 'url', 'base64'] as const;

/**
 * One message for a source that matches no shape. zod's default for a failed union is
 * "Invalid input"; this says what is expected, naming keys only (never a value).
 */
function explain(input: unknown): string {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return 'must be an object with exactly one of path, url or base64';
  const keys = Object.keys(input);
  const known = keys.filter((key) => (sourceKeys as readonly string[]).includes(key));
  if (known.length !== 1 || keys.length !== 1)
    return 'must have exactly one of path, url or base64, and nothing else';
  return `${known[0]} must be a non-empty string`;
}

const nonEmpty = z.string({ error: 'must be a string' }).min(1, 'must not be empty');

/** Strict: exactly one key, a non-empty string. Representable as JSON Schema (an anyOf). */
export const imageSourceSchema: z.ZodType<ImageSource> = z.union(
  [
    z.strictObject({ path: nonEmpty }),
    z.strictObject({ url: nonEmpty }),
    z.strictObject({ base64: nonEmpty }),
  ],
  { error: (issue) => explain(issue.input) },
);

export type SourceKind = (typeof sourceKeys)[number];

/** Which kind a (validated) source is. */
export function sourceKind(source: ImageSource): SourceKind {
  if ('path' in source) return 'path';
  if ('url' in source) return 'url';
  return 'base64';
}
