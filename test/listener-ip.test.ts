import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/lib/errors.ts';
import { createSourceCheck } from '../src/lib/http/ip-allowlist.ts';
import {
  callbackCount,
  completedCallback,
  postJson,
  startListener,
  type StartedListener,
} from './support/listener.ts';

let current: StartedListener | undefined;
afterEach(async () => {
  await current?.app.close();
  current = undefined;
});

/** POST a valid callback from this test (socket address 127.0.0.1) and return the status. */
async function callFrom(env: Record<string, string>, forwardedFor?: string): Promise<number> {
  current = await startListener(env);
  const headers: Record<string, string> = forwardedFor ? { 'x-forwarded-for': forwardedFor } : {};
  const res = await postJson(current.callbackUrl, completedCallback(), headers);
  return res.status;
}

describe('callback IP allowlist over HTTP', () => {
  it('lets an allowed socket address in', async () => {
    expect(await callFrom({ CALLBACK_ALLOWED_IPS: '10.0.0.0/8, 127.0.0.0/8' })).toBe(200);
  });

  it('refuses a socket address outside the list with 403, before auth and body', async () => {
    const status = await callFrom({
      CALLBACK_ALLOWED_IPS: '203.0.113.0/24',
      CALLBACK_AUTH: 'bearer',
      CALLBACK_AUTH_SECRET: 'tok',
    });
    expect(status).toBe(403);
    expect(current!.sink.calls).toHaveLength(0);
    expect(await callbackCount(current!.metrics, 'forbidden')).toBe(1);
    expect(await callbackCount(current!.metrics, 'unauthorized')).toBe(0);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    expect(
      await callFrom(
        { CALLBACK_ALLOWED_IPS: '203.0.113.0/24', CALLBACK_TRUSTED_PROXIES: '10.0.0.0/8' },
        '203.0.113.5',
      ),
    ).toBe(403);
  });

  it('uses the right-most X-Forwarded-For entry behind a trusted proxy', async () => {
    const env = { CALLBACK_ALLOWED_IPS: '203.0.113.0/24', CALLBACK_TRUSTED_PROXIES: '127.0.0.1' };
    expect(await callFrom(env, '198.51.100.7, 203.0.113.5')).toBe(200);
    await current!.app.close();
    // A client-written (forged) allowed address on the left does not help.
    expect(await callFrom(env, '203.0.113.5, 198.51.100.7')).toBe(403);
    await current!.app.close();
    // Without the header, the proxy itself is the source, and it is not allowed.
    expect(await callFrom(env)).toBe(403);
  });

  it('skips further trusted proxies in the X-Forwarded-For chain', async () => {
    expect(
      await callFrom(
        {
          CALLBACK_ALLOWED_IPS: '203.0.113.0/24',
          CALLBACK_TRUSTED_PROXIES: '127.0.0.1,10.0.0.0/8',
        },
        '203.0.113.5, 10.1.2.3',
      ),
    ).toBe(200);
  });

  it('believes X-Forwarded-For from no peer when no proxy is trusted', async () => {
    expect(await callFrom({ CALLBACK_ALLOWED_IPS: '203.0.113.0/24' }, '203.0.113.9')).toBe(403);
  });

  it('matches an IPv4-mapped IPv6 peer (dual-stack bind) against IPv4 ranges', async () => {
    // Bound to "::", a connection to 127.0.0.1 arrives as ::ffff:127.0.0.1.
    current = await startListener({ CALLBACK_ALLOWED_IPS: '127.0.0.0/8' }, { host: '::' });
    const port = current.app.server.address() as { port: number };
    const url = `http://127.0.0.1:${port.port}/callbacks/esign`;
    expect((await postJson(url, completedCallback())).status).toBe(200);
    await current.app.close();
    current = await startListener({ CALLBACK_ALLOWED_IPS: '10.0.0.0/8' }, { host: '::' });
    const other = current.app.server.address() as { port: number };
    const refused = `http://127.0.0.1:${other.port}/callbacks/esign`;
    expect((await postJson(refused, completedCallback())).status).toBe(403);
  });

  it('matches IPv6 ranges', async () => {
    current = await startListener({ CALLBACK_ALLOWED_IPS: '::1/128' }, { host: '::1' });
    expect((await postJson(current.callbackUrl, completedCallback())).status).toBe(200);
  });
});

describe('createSourceCheck', () => {
  const check = createSourceCheck({
    allowed: ['2001:db8::/32', '192.0.2.0/24'],
    trustedProxies: ['10.0.0.0/8', 'fd00::/8'],
  });

  it('handles IPv6 sources and proxies', () => {
    expect(check.allows('2001:db8::1', undefined)).toBe(true);
    expect(check.allows('2001:db9::1', undefined)).toBe(false);
    expect(check.allows('fd00::5', '2001:db8::7')).toBe(true);
    expect(check.allows('::ffff:10.0.0.1', '192.0.2.1')).toBe(true);
  });

  it('fails closed on a forwarded entry that is not an address', () => {
    expect(check.allows('10.0.0.1', '192.0.2.1, unknown')).toBe(false);
    expect(check.allows(undefined, undefined)).toBe(false);
  });

  it('allows everything when no allowlist is configured', () => {
    const open = createSourceCheck({ allowed: [], trustedProxies: [] });
    expect(open.allows('198.51.100.1', undefined)).toBe(true);
  });

  it('rejects a malformed CIDR at start, naming the variable', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '::1/abc'])
      expect(() => createSourceCheck({ allowed: [bad], trustedProxies: [] })).toThrow(
        ValidationError,
      );
    expect(() => createSourceCheck({ allowed: ['10.0.0.0/8'], trustedProxies: ['nope'] })).toThrow(
      /CALLBACK_TRUSTED_PROXIES/,
    );
  });
});
