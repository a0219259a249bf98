import { permanent, retryable, type WorkerError } from './errors.ts';

/**
 * Stored formats: every value the service keeps in Redis names the version of its shape, so a
 * release can change a shape without stranding what an earlier release wrote. The rule
 * (docs/design.md, "Stored formats"):
 *
 * - A release reads the format it writes (N) and the one before it (N-1), and writes N. A value
 *   in N-1 is upgraded to N as it is read; the next write stores it as N.
 * - Reading N-1 is removed one release later, and not before every N-1 value can have gone
 *   (finished records live for RECORD_RETENTION_DAYS).
 * - A value in a newer format than this release knows (a rolling deploy is under way, and a
 *   newer worker wrote it) is refused with the retryable FORMAT_TOO_NEW and left untouched: a
 *   worker of the newer release will read it. It is never guessed at nor overwritten.
 * - A value without a version marker was written before formats were versioned: format 0.
 *
 * This module is the mechanism; each value declares its format beside its reader and writer.
 */

/** How long a worker leaves a value in a newer format before it looks again. */
export const FORMAT_RETRY_MS = 5_000;

/** The format of a value that carries no marker: written before formats were versioned. */
export const UNMARKED = 0;

export type Upgrade = (value: Record<string, unknown>) => Record<string, unknown>;

export interface StoredFormat {
  /** What the value is, for messages (never its content): "registration record". */
  name: string;
  /** The field that holds the version; absent means format 0 (UNMARKED). */
  marker: string;
  /** The version this release writes. */
  current: number;
  /** The oldest version this release still reads: `current` or `current - 1`. */
  oldest: number;
  /** `upgrades[n]` turns a version-n value into version n+1 (the reader sets the marker). */
  upgrades: Readonly<Record<number, Upgrade>>;
}

/** Declare a format; throws at load time if a version it promises to read has no upgrade. */
export function storedFormat(format: StoredFormat): StoredFormat {
  const { name, current, oldest, upgrades } = format;
  if (!Number.isInteger(current) || oldest < current - 1 || oldest > current || oldest < 0)
    throw new Error(`${name}: reads formats ${oldest} to ${current}; one release back at most`);
  for (let version = oldest; version < current; version += 1)
    if (!upgrades[version]) throw new Error(`${name}: no upgrade from format ${version}`);
  return format;
}

/**
 * The value in the current format: upgraded from the one before, or refused. `raw` is the
 * parsed value (a JSON object, or a Redis hash, whose marker is then a string of digits).
 */
export function readFormat(format: StoredFormat, raw: unknown): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw unsupported(format, 'is not an object');
  let value = raw as Record<string, unknown>;
  let version = versionOf(format, value[format.marker]);
  if (version > format.current) throw formatTooNew(format.name, version, format);
  if (version < format.oldest)
    throw unsupported(
      format,
      `is in format ${version}; this release reads ${range(format)}: ` +
        'only a release from before it can read it',
    );
  while (version < format.current) {
    const upgrade = format.upgrades[version];
    if (!upgrade) throw unsupported(format, `has no upgrade from format ${version}`);
    version += 1;
    value = { ...upgrade(value), [format.marker]: version };
  }
  return value;
}

/** The refusal of a value a newer release wrote: retryable, so a newer worker takes it. */
export function formatTooNew(
  name: string,
  version: number | string,
  readable: { current: number; oldest: number } | string,
): WorkerError {
  const reads = typeof readable === 'string' ? readable : range(readable);
  return retryable(
    'FORMAT_TOO_NEW',
    `${name} is in format ${version}, newer than this release reads (${reads}): ` +
      'a newer release wrote it; left for a worker of that release',
    { retryAfterMs: FORMAT_RETRY_MS },
  );
}

function versionOf(format: StoredFormat, marker: unknown): number {
  if (marker === undefined) return UNMARKED;
  const version = typeof marker === 'string' && /^\d+$/.test(marker) ? Number(marker) : marker;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0)
    throw unsupported(format, `has a malformed format marker "${format.marker}"`);
  return version;
}

function unsupported(format: StoredFormat, what: string): WorkerError {
  return permanent('FORMAT_UNSUPPORTED', `${format.name} ${what}`);
}

function range({ current, oldest }: { current: number; oldest: number }): string {
  return oldest === current ? `format ${current}` : `formats ${oldest} to ${current}`;
}
