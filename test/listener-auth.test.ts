import { afterEach, describe, expect, it } from 'vitest';
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

const basic = (credentials: string): string =>
  `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;

interface Mode {
  env: Record<string, string>;
  right: Record<string, string>;
  wrong: Record<string, string>;
  challenge: RegExp | null;
}

const modes: Record<string, Mode> = {
  basic: {
    env: { CALLBACK_AUTH: 'basic', CALLBACK_AUTH_SECRET: 'esign:s3cret:with-colon' },
    right: { authorization: basic('esign:s3cret:with-colon') },
    wrong: { authorization: basic('esign:s3cret') },
    challenge: /^Basic realm=/,
  },
  bearer: {
    env: { CALLBACK_AUTH: 'bearer', CALLBACK_AUTH_SECRET: 'tok-abc-123' },
    right: { authorization: 'Bearer tok-abc-123' },
    wrong: { authorization: 'Bearer tok-abc-124' },
    challenge: /^Bearer realm=/,
  },
  'api-key': {
    env: {
      CALLBACK_AUTH: 'api-key',
      CALLBACK_AUTH_SECRET: 'key-xyz',
      CALLBACK_API_KEY_HEADER: 'X-Esign-Key',
    },
    right: { 'x-esign-key': 'key-xyz' },
    wrong: { 'x-esign-key': 'key-xy' },
    challenge: null,
  },
};

describe.each(Object.entries(modes))('callback auth: %s', (_name, mode) => {
  it('accepts the right credential', async () => {
    current = await startListener(mode.env);
    const res = await postJson(current.callbackUrl, completedCallback(), mode.right);
    expect(res.status).toBe(200);
    expect(current.sink.calls).toHaveLength(1);
  });

  it.each([
    ['wrong', mode.wrong],
    ['missing', {}],
  ])('refuses a %s credential with 401 before reading the body', async (_case, headers) => {
    current = await startListener(mode.env);
    const res = await postJson(current.callbackUrl, completedCallback(), headers);
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate');
    if (mode.challenge) expect(challenge).toMatch(mode.challenge);
    else expect(challenge).toBeNull();
    expect(current.sink.calls).toHaveLength(0);
    expect(await callbackCount(current.metrics, 'unauthorized')).toBe(1);
  });
});

describe('callback auth: details', () => {
  it('refuses an unauthenticated callback even when its body is invalid (auth comes first)', async () => {
    current = await startListener(modes.bearer!.env);
    const res = await fetch(current.callbackUrl, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'not json',
    });
    expect(res.status).toBe(401);
    expect(await callbackCount(current.metrics, 'invalid')).toBe(0);
  });

  it('does not take a bearer token sent as Basic, nor an API key in Authorization', async () => {
    current = await startListener(modes.bearer!.env);
    expect(
      (await postJson(current.callbackUrl, completedCallback(), { authorization: 'tok-abc-123' }))
        .status,
    ).toBe(401);
    expect(
      (
        await postJson(current.callbackUrl, completedCallback(), {
          authorization: basic('tok-abc-123'),
        })
      ).status,
    ).toBe(401);
    await current.app.close();

    current = await startListener(modes['api-key']!.env);
    expect(
      (await postJson(current.callbackUrl, completedCallback(), { authorization: 'key-xyz' }))
        .status,
    ).toBe(401);
  });

  it('accepts the scheme name in any case', async () => {
    current = await startListener(modes.bearer!.env);
    const res = await postJson(current.callbackUrl, completedCallback(), {
      authorization: 'bearer tok-abc-123',
    });
    expect(res.status).toBe(200);
  });
});
