/** Wait until `probe` gives a value (truthy); fail after a while. */
export async function until<T>(
  probe: () => T | undefined | null | false | 0 | Promise<T | undefined | null | false | 0>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
