import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from './support/redis-servers.ts';

/**
 * One Redis over TLS with an ACL user, as a managed Redis is run: `rediss://user:password@…`
 * in REDIS_URL. The CLI reaches it (the certificate's CA given the standard Node way,
 * NODE_EXTRA_CA_CERTS) and is refused with a wrong password or without TLS.
 */
describe('REDIS_URL with rediss:// and an ACL user', () => {
  let dir: string;
  let server: RedisServer;
  let tlsPort: number;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'esign-tls-'));
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1'],
        ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
        ...['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      ],
      { stdio: 'ignore' },
    );
    const { freeLoopbackPort } = await import('../demo/redis-discovery.ts');
    tlsPort = await freeLoopbackPort();
    server = await startRedisServer(dir, [
      ...['--tls-port', String(tlsPort)],
      ...['--tls-cert-file', join(dir, 'cert.pem'), '--tls-key-file', join(dir, 'key.pem')],
      ...['--tls-auth-clients', 'no'],
      ...['--user', 'esign', 'on', '>s3cret-pw', '~*', '&*', '+@all'],
    ]);
  });
  afterAll(async () => {
    await server?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  function status(url: string): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['bin/esign-worker.js', 'status', 'no-such-id'], {
        env: {
          PATH: process.env.PATH ?? '',
          REDIS_URL: url,
          ESIGN_PARTNER_USER_ID_TYPE: 'TLS_TEST',
          NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'),
        },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  it('connects over TLS as the ACL user: an unknown id is exit 3, not 69', async () => {
    const run = await status(`rediss://esign:s3cret-pw@127.0.0.1:${tlsPort}`);
    expect(run.stderr).toBe('registration no-such-id does not exist\n');
    expect(run.code).toBe(3);
  });

  it('a wrong password is refused, and the password is not printed', async () => {
    const run = await status(`rediss://esign:wrong-pw@127.0.0.1:${tlsPort}`);
    expect(run.code).not.toBe(3);
    expect(run.code).not.toBe(0);
    expect(run.stderr).not.toContain('wrong-pw');
  });
});
