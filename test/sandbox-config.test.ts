import { describe, expect, it } from 'vitest';
import { loadSandboxConfig } from '../sandbox/config.ts';
import { sandboxOptionsFromConfig } from '../sandbox/from-config.ts';
import { nikForScenario, startSandbox } from '../sandbox/index.ts';
import {
  call,
  createSubmission,
  getToken,
  newUser,
  partnerHeaders,
  pollPath,
  register,
  startTestSandbox,
} from './support/sandbox-kit.ts';
import { problemsOf } from './support/problems.ts';

describe('sandboxOptionsFromConfig', () => {
  it('maps the SANDBOX_* section, callback included', () => {
    const sandbox = loadSandboxConfig({
      SANDBOX_PORT: '0',
      SANDBOX_CLIENT_ID: 'cid',
      SANDBOX_PASS_KEY: 'pk',
      SANDBOX_ONBOARDING_PARTNER: 'OP',
      SANDBOX_CALLBACK_URL: 'http://127.0.0.1:8080/callbacks/esign',
      SANDBOX_CALLBACK_METHOD: 'PUT',
      SANDBOX_CALLBACK_AUTH: 'bearer',
      SANDBOX_CALLBACK_SECRET: 'tok',
      SANDBOX_TOKEN_TTL_SECONDS: '60',
      SANDBOX_PROCESSING_MS: '5',
      SANDBOX_FAULTS: '{"failNext":{"confirm":2},"callbackReorder":true}',
    });
    expect(sandboxOptionsFromConfig(sandbox)).toEqual({
      host: '127.0.0.1',
      port: 0,
      clientId: 'cid',
      passKey: 'pk',
      onboardingPartner: 'OP',
      tokenTtlSeconds: 60,
      urlTtlSeconds: 432_000,
      processingMs: 5,
      faults: { failNext: { confirm: 2 }, callbackReorder: true },
      callback: {
        url: 'http://127.0.0.1:8080/callbacks/esign',
        method: 'PUT',
        auth: { mode: 'bearer', secret: 'tok', apiKeyHeader: 'x-api-key' },
      },
    });
  });

  it('names the bad SANDBOX_FAULTS field without echoing values', () => {
    const base = loadSandboxConfig({});
    const problems = problemsOf(() =>
      sandboxOptionsFromConfig({ ...base, SANDBOX_FAULTS: '{"errorRate":"very-secret-high"}' }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^SANDBOX_FAULTS\.errorRate: /);
    expect(problems[0]).not.toContain('very-secret-high');
    expect(
      problemsOf(() => sandboxOptionsFromConfig({ ...base, SANDBOX_FAULTS: '{oops' })),
    ).toEqual(['SANDBOX_FAULTS: must be a JSON object']);
  });

  it('starts a working sandbox from the defaults', async () => {
    const config = loadSandboxConfig({ SANDBOX_PORT: '0', SANDBOX_PROCESSING_MS: '5' });
    const sandbox = await startSandbox(sandboxOptionsFromConfig(config));
    try {
      const token = await getToken(sandbox).catch(() => undefined);
      // The kit's credentials are not the config defaults: the token call must be refused…
      expect(token).toBeUndefined();
      const reply = await call(`${sandbox.url}/v1/esign/partner/authentication`, {
        headers: { 'client-id': config.SANDBOX_CLIENT_ID, 'pass-key': config.SANDBOX_PASS_KEY },
      });
      // …and the configured ones accepted.
      expect(reply.status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });
});

describe('sandbox poll targeting', () => {
  it("returns the user's newest submission even when an older one is already completed", async () => {
    const sandbox = await startTestSandbox({ processingMs: 1 });
    try {
      const token = await getToken(sandbox);
      const user = newUser();
      await register(sandbox, token, user, nikForScenario('completed-direct'));
      const newer = await createSubmission(sandbox, token, user);
      const reply = await call(`${sandbox.url}${pollPath}`, {
        headers: partnerHeaders(token, user),
      });
      expect(reply.status).toBe(200);
      expect((reply.json as { data: { submissionId: string; status: string } }).data).toMatchObject(
        {
          submissionId: newer.submissionId,
          status: 'INITIATED',
        },
      );
    } finally {
      await sandbox.close();
    }
  });
});
