/**
 * The few Redis commands the partner-token cache uses, kept in this process's memory: the
 * baseline shares one token across its calls as the pipeline does, but has no Redis state.
 * Only the shapes the cache calls (../src/lib/esign/token-cache.ts) are served.
 */
export function memoryTokenStore() {
  const hashes = new Map<string, Record<string, string>>();
  const strings = new Map<string, string>();
  const store = {
    hgetall: (key: string) => Promise.resolve({ ...(hashes.get(key) ?? {}) }),
    set(key: string, value: string, ..._options: unknown[]) {
      if (strings.has(key)) return Promise.resolve(null);
      strings.set(key, value);
      return Promise.resolve('OK');
    },
    multi() {
      const steps: (() => void)[] = [];
      const chain = {
        del(key: string) {
          steps.push(() => hashes.delete(key));
          return chain;
        },
        hset(key: string, fields: Record<string, string | number>) {
          const text = Object.fromEntries(
            Object.entries(fields).map(([name, value]) => [name, String(value)]),
          );
          steps.push(() => hashes.set(key, { ...(hashes.get(key) ?? {}), ...text }));
          return chain;
        },
        // The token's lifetime outlasts any bench run.
        pexpire: () => chain,
        exec() {
          for (const step of steps) step();
          return Promise.resolve([]);
        },
      };
      return chain;
    },
    /** The cache's two compare-and-delete scripts: the lock (a string), the token (a hash). */
    eval(script: string, _keys: number, key: string, expected: string) {
      if (script.includes('HGET')) {
        if (hashes.get(key)?.token !== expected) return Promise.resolve(0);
        hashes.delete(key);
        return Promise.resolve(1);
      }
      if (strings.get(key) !== expected) return Promise.resolve(0);
      strings.delete(key);
      return Promise.resolve(1);
    },
  };
  return store;
}
