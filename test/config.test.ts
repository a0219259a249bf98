import { describe, expect, it } from 'vitest';
import { confirmTimings, loadConfig } from '../src/lib/config.ts';
import { problemsOf } from './support/problems.ts';

const esignEnv = {
  ESIGN_TOKEN_URL: 'http://127.0.0.1:1',
  ESIGN_API_URL: 'http://127.0.0.1:1',
  ESIGN_CLIENT_ID: 'client',
  ESIGN_PASS_KEY: 'secret-pass-key-value',
  ESIGN_ONBOARDING_PARTNER: 'P',
  ESIGN_PARTNER_USER_ID_TYPE: 'T',
};

describe('loadConfig', () => {
  it('applies defaults and coerces numbers', () => {
    const config = loadConfig({ ...esignEnv, CALLBACK_AUTH: 'bearer', CALLBACK_AUTH_SECRET: 's' }, [
      'common',
      'esign',
      'pipeline',
      'listener',
      'ops',
    ]);
    expect(config.ops.METRICS_HOST).toBe('127.0.0.1');
    expect(config.common.QUEUE_PREFIX).toBe('esign');
    expect(config.esign.ESIGN_NIK_JSON_TYPE).toBe('number');
    expect(config.pipeline.CALLBACK_TIMEOUT_MS).toBe(600_000);
    expect(config.listener.CALLBACK_METHODS).toEqual(['POST']);
  });

  it('names every missing or wrong variable, never its value', () => {
    const problems = problemsOf(() =>
      loadConfig(
        { ...esignEnv, ESIGN_API_URL: 'not a url', ESIGN_CLIENT_ID: '', CALLBACK_PORT: 'eighty' },
        ['esign', 'listener'],
      ),
    );
    expect(problems.some((p) => p.startsWith('ESIGN_API_URL:'))).toBe(true);
    expect(problems).toContain('ESIGN_CLIENT_ID: is required');
    expect(problems.some((p) => p.startsWith('CALLBACK_PORT:'))).toBe(true);
    expect(problems.join('\n')).not.toContain('eighty');
  });

  it('requires a secret when callback auth is on', () => {
    const problems = problemsOf(() => loadConfig({ CALLBACK_AUTH: 'bearer' }, ['listener']));
    expect(problems).toEqual(['CALLBACK_AUTH_SECRET: is required when CALLBACK_AUTH=bearer']);
  });

  it('rejects a callback method Esign cannot use', () => {
    const problems = problemsOf(() => loadConfig({ CALLBACK_METHODS: 'POST,GET' }, ['listener']));
    expect(problems.some((p) => p.startsWith('CALLBACK_METHODS.1:'))).toBe(true);
  });

  it('rejects a PII key that is not 32 bytes, and previous keys that are not either', () => {
    const problems = problemsOf(() =>
      loadConfig({ PII_ENCRYPTION_KEY: 'abc', PII_PREVIOUS_KEYS: `${'b'.repeat(64)},xyz` }, [
        'pii',
      ]),
    );
    expect(problems).toEqual([
      'PII_ENCRYPTION_KEY: must be 32 bytes, as 64 hex characters or base64',
      'PII_PREVIOUS_KEYS: each key must be 32 bytes, as 64 hex characters or base64',
    ]);
  });

  it('requires a PII key unless plaintext is explicitly allowed', () => {
    expect(problemsOf(() => loadConfig({}, ['pii']))).toEqual([
      'PII_ENCRYPTION_KEY: is required (32 bytes, hex or base64): PII is stored encrypted; ' +
        'set PII_PLAINTEXT_ALLOWED=true to store it in plaintext instead',
    ]);
    expect(loadConfig({ PII_PLAINTEXT_ALLOWED: 'true' }, ['pii']).pii).toEqual({
      PII_PREVIOUS_KEYS: [],
      PII_PLAINTEXT_ALLOWED: true,
    });
    // Commands that store no PII (listener, status, ui) do not ask for the key.
    expect(() => loadConfig({}, ['common', 'pipeline'])).not.toThrow();
  });

  it('wants the registration deadline above the poll give-up', () => {
    const problems = problemsOf(() =>
      loadConfig({ POLL_GIVE_UP_MS: '5000', REGISTRATION_TIMEOUT_MS: '5000' }, ['pipeline']),
    );
    expect(problems).toEqual(['REGISTRATION_TIMEOUT_MS: must be above POLL_GIVE_UP_MS']);
  });
});

describe('confirmTimings', () => {
  const load = (extra: Record<string, string>) => {
    const config = loadConfig({ ...esignEnv, ...extra }, ['esign', 'pipeline']);
    return confirmTimings(config.esign, config.pipeline);
  };

  it('abandons the call at connect + request timeout; the lease adds one more request timeout', () => {
    expect(load({})).toEqual({ confirmCallMs: 20_000, confirmLeaseMs: 35_000 });
    expect(load({ ESIGN_CONNECT_TIMEOUT_MS: '200', ESIGN_REQUEST_TIMEOUT_MS: '2000' })).toEqual({
      confirmCallMs: 2_200,
      confirmLeaseMs: 4_200,
    });
  });

  it('takes CONFIRM_LEASE_MS as given', () => {
    expect(load({ CONFIRM_LEASE_MS: '9000' })).toEqual({
      confirmCallMs: 20_000,
      confirmLeaseMs: 9_000,
    });
  });
});

describe('loadConfig: the queue UI', () => {
  const login = { UI_USERNAME: 'ops', UI_PASSWORD: 'ui-password-value' };

  it('listens on loopback 3030, read-only, unless told otherwise', () => {
    expect(loadConfig(login, ['ui']).ui).toEqual({
      ...login,
      UI_HOST: '127.0.0.1',
      UI_PORT: 3030,
      UI_READ_ONLY: true,
    });
    expect(loadConfig({ ...login, UI_READ_ONLY: 'false' }, ['ui']).ui.UI_READ_ONLY).toBe(false);
    expect(loadConfig({ ...login, UI_READ_ONLY: '' }, ['ui']).ui.UI_READ_ONLY).toBe(true);
  });

  it('requires a login, naming the variables; a username cannot hold ":"', () => {
    expect(problemsOf(() => loadConfig({}, ['ui']))).toEqual([
      'UI_USERNAME: is required',
      'UI_PASSWORD: is required',
    ]);
    const problems = problemsOf(() => loadConfig({ ...login, UI_USERNAME: 'a:b' }, ['ui']));
    expect(problems).toEqual(['UI_USERNAME: must not contain ":" (HTTP Basic auth)']);
    expect(problems.join('\n')).not.toContain('ui-password-value');
  });
});
