import type { RedisClient } from './redis-topology.ts';
import { formatTooNew } from './format.ts';

/**
 * When step queues were paused (`esign-worker pause` / `resume`), so the registrations'
 * deadlines can leave that time out: while a queue is paused nothing moves, and a poll that
 * resumes after an hour's pause must not find POLL_GIVE_UP_MS spent (docs/design.md, "Pausing").
 *
 * One hash, `<p>:pauses`: `v` (its format, 1), `open:<step>` → when that queue was paused
 * (epoch ms), and `closed` → the latest closed intervals as JSON `[[start, end], …]`, capped at
 * `KEPT_INTERVALS` (older ones are past any deadline they could move). The time counted is
 * the union of all intervals, open ones up to now: time during which any step queue was paused.
 */

export const PAUSE_LEDGER_FORMAT = 1;
const KEPT_INTERVALS = 100;

/** Open an interval for each step not already open (a second `pause` keeps the first start). */
const OPEN = `
redis.call('HSET', KEYS[1], 'v', ARGV[1])
for i = 3, #ARGV do redis.call('HSETNX', KEYS[1], 'open:' .. ARGV[i], ARGV[2]) end
return 1`;

/** Close each step's open interval into `closed`, keeping the latest KEPT_INTERVALS. */
const CLOSE = `
local closed = cjson.decode(redis.call('HGET', KEYS[1], 'closed') or '[]')
for i = 3, #ARGV do
  local start = redis.call('HGET', KEYS[1], 'open:' .. ARGV[i])
  if start then
    table.insert(closed, {tonumber(start), tonumber(ARGV[2])})
    redis.call('HDEL', KEYS[1], 'open:' .. ARGV[i])
  end
end
while #closed > tonumber(ARGV[1]) do table.remove(closed, 1) end
if #closed > 0 then redis.call('HSET', KEYS[1], 'closed', cjson.encode(closed), 'v', '${PAUSE_LEDGER_FORMAT}') end
return 1`;

export class PauseLedger {
  private readonly redis: RedisClient;
  private readonly key: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.key = `${prefix}:pauses`;
  }

  async open(steps: readonly string[], at: number): Promise<void> {
    await this.redis.eval(OPEN, 1, this.key, String(PAUSE_LEDGER_FORMAT), String(at), ...steps);
  }

  async close(steps: readonly string[], at: number): Promise<void> {
    await this.redis.eval(CLOSE, 1, this.key, String(KEPT_INTERVALS), String(at), ...steps);
  }

  /** The steps paused now, each with the time its pause started. */
  async openPauses(): Promise<Record<string, number>> {
    const fields = await this.read();
    return Object.fromEntries(
      Object.entries(fields)
        .filter(([field]) => field.startsWith('open:'))
        .map(([field, value]) => [field.slice('open:'.length), Number(value)]),
    );
  }

  /** How much of [from, to] some step queue was paused. */
  async pausedWithin(from: number, to: number): Promise<number> {
    const fields = await this.read();
    const intervals = JSON.parse(fields.closed ?? '[]') as [number, number][];
    for (const [field, value] of Object.entries(fields))
      if (field.startsWith('open:')) intervals.push([Number(value), to]);
    return overlap(intervals, from, to);
  }

  private async read(): Promise<Record<string, string>> {
    const fields = await this.redis.hgetall(this.key);
    const version = fields.v === undefined ? PAUSE_LEDGER_FORMAT : Number(fields.v);
    // Only this release's format exists (absent: the hash is empty); a newer one is a newer
    // release's to read, and the retryable refusal lets a worker of that release take the poll.
    if (version !== PAUSE_LEDGER_FORMAT)
      throw formatTooNew('pause ledger', fields.v ?? '', {
        current: PAUSE_LEDGER_FORMAT,
        oldest: PAUSE_LEDGER_FORMAT,
      });
    return fields;
  }
}

/** The length of the union of `intervals`, clipped to [from, to]. */
export function overlap(intervals: readonly [number, number][], from: number, to: number): number {
  const clipped = intervals
    .map(([start, end]): [number, number] => [Math.max(start, from), Math.min(end, to)])
    .filter(([start, end]) => end > start)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let reach = from;
  for (const [start, end] of clipped) {
    const begin = Math.max(start, reach);
    if (end > begin) total += end - begin;
    reach = Math.max(reach, end);
  }
  return total;
}
