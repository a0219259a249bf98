import { describe, expect, it } from 'vitest';
import { WorkerError } from '../src/lib/errors.ts';
import { FORMAT_RETRY_MS, readFormat, storedFormat } from '../src/lib/format.ts';

/** The error `fn` throws; fails the test when it throws none or not a WorkerError. */
function refusal(fn: () => unknown): WorkerError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WorkerError);
    return error as WorkerError;
  }
  throw new Error('expected a refusal');
}

// A format with a history: version 2 renamed `name` to `title`, version 3 added `tags`.
const widget = storedFormat({
  name: 'widget',
  marker: 'v',
  current: 3,
  oldest: 2,
  upgrades: {
    1: ({ name, ...rest }) => ({ ...rest, title: name }),
    2: (value) => ({ ...value, tags: [] }),
  },
});

describe('stored formats: the scheme', () => {
  it('reads the current format as it is', () => {
    expect(readFormat(widget, { v: 3, title: 'a', tags: ['x'] })).toEqual({
      v: 3,
      title: 'a',
      tags: ['x'],
    });
  });

  it('upgrades the format before it (N-1) to N, marker included', () => {
    expect(readFormat(widget, { v: 2, title: 'a' })).toEqual({ v: 3, title: 'a', tags: [] });
  });

  it('reads a marker from a Redis hash, where it is a string of digits', () => {
    expect(readFormat(widget, { v: '2', title: 'a' })).toEqual({ v: 3, title: 'a', tags: [] });
  });

  it('refuses a newer format with a retryable FORMAT_TOO_NEW naming the versions, not the value', () => {
    const error = refusal(() => readFormat(widget, { v: 4, title: 'secret-title' }));
    expect(error.code).toBe('FORMAT_TOO_NEW');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(FORMAT_RETRY_MS);
    expect(error.message).toBe(
      'widget is in format 4, newer than this release reads (formats 2 to 3): ' +
        'a newer release wrote it; left for a worker of that release',
    );
  });

  it('refuses, for good, a format older than it reads (N-2) and values without one (format 0)', () => {
    for (const value of [{ v: 1, name: 'a' }, { name: 'a' }]) {
      const error = refusal(() => readFormat(widget, value));
      expect(error.code).toBe('FORMAT_UNSUPPORTED');
      expect(error.retryable).toBe(false);
    }
  });

  it('refuses malformed markers and values that are not objects, for good', () => {
    for (const value of [{ v: -1 }, { v: 2.5 }, { v: 'two' }, { v: null }, { v: '2a' }])
      expect(refusal(() => readFormat(widget, value)).code).toBe('FORMAT_UNSUPPORTED');
    for (const value of [null, 'text', 3, [1]])
      expect(refusal(() => readFormat(widget, value)).code).toBe('FORMAT_UNSUPPORTED');
  });

  it('refuses to declare a format that reads more than one release back, or lacks an upgrade', () => {
    const base = {
      name: 'w',
      marker: 'v',
      current: 3,
      upgrades: { 1: (v: Record<string, unknown>) => v },
    };
    expect(() => storedFormat({ ...base, oldest: 1 })).toThrow(/one release back at most/);
    expect(() => storedFormat({ ...base, oldest: 2 })).toThrow(/no upgrade from format 2/);
  });
});
