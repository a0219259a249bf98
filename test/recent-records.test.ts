import { describe, expect, it } from 'vitest';
import { RecentRecords } from '../src/lib/registration/recent-records.ts';

/** The store's first guesses: bounded in number and in age, the oldest dropped first. */
describe('recent records', () => {
  it('forgets an entry past its age, and the oldest past the bound', () => {
    let clock = 0;
    const recent = new RecentRecords(2, 1_000, () => clock);
    recent.remember('a', 'A');
    recent.remember('b', 'B');
    expect(recent.recall('a')).toBe('A');
    recent.remember('a', 'A2'); // re-remembered: now the newest
    recent.remember('c', 'C'); // over the bound: b, the oldest, goes
    expect(recent.recall('b')).toBeUndefined();
    expect(recent.recall('a')).toBe('A2');
    clock = 1_001;
    expect(recent.recall('c')).toBeUndefined();
    recent.remember('d', 'D');
    recent.forget('d');
    expect(recent.recall('d')).toBeUndefined();
  });
});
