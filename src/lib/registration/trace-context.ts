import type { RedisClient } from '../redis-topology.ts';

/**
 * Where each registration's trace lives, so a callback (a request from Esign, which carries
 * no trace context of ours) can join it: `<p>:registration-trace:<id>` holds the W3C
 * traceparent of the span that enqueued the registration. Written only while tracing is on,
 * kept as long as the record, read once per callback.
 *
 * A hint, not state: nothing decides anything by it, so a lost or missing one only leaves the
 * callback's work in a trace of its own. Its value is a W3C traceparent, which names its own
 * version (`00-…`); its format is also its key name, like the indexes' (docs/design.md,
 * "Stored formats"), so a new shape takes a new key.
 */
export class TraceContexts {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly ttlMs: number;

  constructor(options: { redis: RedisClient; prefix: string; ttlMs: number }) {
    this.redis = options.redis;
    this.prefix = options.prefix;
    this.ttlMs = options.ttlMs;
  }

  private key(registrationId: string): string {
    return `${this.prefix}:registration-trace:${registrationId}`;
  }

  /** The first trace of a registration stays its trace: an existing one is kept (NX). */
  async save(registrationId: string, traceparent: string): Promise<void> {
    await this.redis.set(this.key(registrationId), traceparent, 'PX', this.ttlMs, 'NX');
  }

  /** A retried registration's next attempt starts a trace of its own (kept at its first step). */
  async forget(registrationId: string): Promise<void> {
    await this.redis.del(this.key(registrationId));
  }

  /** The registration's traceparent; undefined when none was kept or Redis fails to say. */
  async find(registrationId: string): Promise<string | undefined> {
    const value = await this.redis.get(this.key(registrationId)).catch(() => null);
    return value !== null && /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(value)
      ? value
      : undefined;
  }
}
