import type { Logger } from './logger.ts';

/**
 * Background errors (a Redis connection reconnecting, a BullMQ worker losing its connection)
 * repeat many times a second while Redis is down, once per connection and per worker. Logging
 * each would bury everything else, and logging only some would hide how bad it is. So the
 * first of a kind is logged at once; repeats within the interval are counted, and the count is
 * logged once at the end of it (`count`, `sources`), until the errors stop.
 */
export interface ErrorLog {
  /** `source` names what failed (a connection or queue name), never a value. */
  report(msg: string, source: string, error: unknown): void;
  /** Log the counts still pending and stop the timer. */
  flush(): void;
}

export const ERROR_LOG_INTERVAL_MS = 10_000;

interface Pending {
  msg: string;
  count: number;
  sources: Set<string>;
  last: unknown;
}

export function createErrorLog(logger: Logger, intervalMs = ERROR_LOG_INTERVAL_MS): ErrorLog {
  // Kinds logged in the current interval, with what repeated since.
  const current = new Map<string, Pending>();
  let timer: NodeJS.Timeout | undefined;

  const endInterval = (): void => {
    timer = undefined;
    let repeated = false;
    for (const [key, pending] of current) {
      if (pending.count === 0) {
        current.delete(key); // quiet for a whole interval: the next one is logged at once
        continue;
      }
      repeated = true;
      logger.error(
        {
          err: pending.last,
          count: pending.count,
          sources: [...pending.sources].sort(),
          intervalMs,
        },
        `${pending.msg} (repeated)`,
      );
      pending.count = 0;
      pending.sources.clear();
    }
    if (repeated) startInterval();
  };
  const startInterval = (): void => {
    timer ??= setTimeout(endInterval, intervalMs);
    // A process that is otherwise done must not stay up for a log line.
    timer.unref();
  };

  return {
    report(msg, source, error) {
      const key = `${msg}\u0000${kindOf(error)}`;
      const pending = current.get(key);
      if (pending) {
        pending.count += 1;
        pending.sources.add(source);
        pending.last = error;
        startInterval(); // running already, unless flush() stopped it
        return;
      }
      current.set(key, { msg, count: 0, sources: new Set(), last: error });
      logger.error({ err: error, source }, msg);
      startInterval();
    },
    flush() {
      clearTimeout(timer);
      endInterval();
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** Errors of one kind: the same code, or the same class and message. */
function kindOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : `${error.name}: ${error.message}`;
}
