import { ValidationError } from '../../src/lib/errors.ts';

/** The problems a ValidationError lists; fails the test when `fn` throws none. */
export function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a ValidationError');
}
