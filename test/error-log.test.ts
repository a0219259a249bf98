import { describe, expect, it } from 'vitest';
import { waitUntil } from '../demo/child-process.ts';
import { createErrorLog } from '../src/lib/error-log.ts';
import { capturingLogger } from './support/listener.ts';

/** An error as ioredis and BullMQ report a refused connection. */
function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
}

function entries(lines: string[]): Record<string, unknown>[] {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('repeated background errors', () => {
  it('logs the first at once, then the repeats once per interval with a count', () => {
    const { logger, lines } = capturingLogger();
    const errors = createErrorLog(logger, 60_000);
    for (const source of ['esign-worker', 'worker:upload', 'worker:upload', 'worker:poll'])
      errors.report('redis connection error', source, refused());
    expect(entries(lines)).toMatchObject([
      { level: 50, msg: 'redis connection error', source: 'esign-worker' },
    ]);

    errors.flush(); // the end of the interval
    expect(entries(lines)[1]).toMatchObject({
      level: 50,
      msg: 'redis connection error (repeated)',
      count: 3,
      sources: ['worker:poll', 'worker:upload'],
      err: { message: 'connect ECONNREFUSED 127.0.0.1:6379' },
    });

    // A quiet interval ends the episode: the next error of the kind is news again.
    errors.flush();
    expect(lines).toHaveLength(2);
    errors.report('redis connection error', 'esign-worker', refused());
    expect(entries(lines)[2]).toMatchObject({
      msg: 'redis connection error',
      source: 'esign-worker',
    });
    errors.flush();
  });

  it('keeps kinds apart: another error or another message is logged at once', () => {
    const { logger, lines } = capturingLogger();
    const errors = createErrorLog(logger, 60_000);
    errors.report('redis connection error', 'a', refused());
    errors.report('worker error', 'worker:confirm', refused());
    errors.report('redis connection error', 'a', new Error('Connection is closed.'));
    errors.report('redis connection error', 'a', refused());
    expect(entries(lines).map((entry) => entry.msg)).toEqual([
      'redis connection error',
      'worker error',
      'redis connection error',
    ]);
    errors.flush();
  });

  it('keeps counting after a flush: the repeats still get their line', async () => {
    const { logger, lines } = capturingLogger();
    const errors = createErrorLog(logger, 100);
    errors.report('worker error', 'worker:poll', refused());
    errors.report('worker error', 'worker:poll', refused());
    errors.flush();
    expect(lines).toHaveLength(2);
    errors.report('worker error', 'worker:poll', refused()); // the kind is still in its episode
    await waitUntil(() => lines.length === 3, { timeoutMs: 5_000, what: 'the repeat counted' });
    expect(entries(lines)[2]).toMatchObject({ msg: 'worker error (repeated)', count: 1 });
    errors.flush();
  });

  it('logs the count when the interval ends, without anyone asking', async () => {
    const { logger, lines } = capturingLogger();
    const errors = createErrorLog(logger, 100);
    errors.report('worker error', 'worker:initiate', refused());
    errors.report('worker error', 'worker:initiate', refused());
    await waitUntil(() => lines.length === 2, { timeoutMs: 5_000, what: 'the repeated line' });
    expect(entries(lines)[1]).toMatchObject({ msg: 'worker error (repeated)', count: 1 });
    errors.flush();
  });
});
