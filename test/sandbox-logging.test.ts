import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { createLogger } from '../src/lib/logger.ts';
import { nikForScenario } from '../sandbox/index.ts';
import {
  credentials,
  getToken,
  newUser,
  register,
  startReceiver,
  startTestSandbox,
  upload,
  waitFor,
} from './support/sandbox-kit.ts';

it('logs no NIK, personal data, token or credential at debug level', async () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const receiver = await startReceiver((n) => (n === 0 ? 500 : 200));
  const sandbox = await startTestSandbox({
    logger: createLogger({ level: 'debug', destination }),
    callback: {
      url: receiver.url,
      method: 'POST',
      auth: { mode: 'bearer', secret: 'cb-secret-1' },
    },
    callbackRetry: { attempts: 3, baseDelayMs: 5 },
  });
  try {
    const token = await getToken(sandbox);
    const user = newUser();
    const nik = nikForScenario('completed', 11);
    await register(sandbox, token, user, nik);
    await upload(`${sandbox.url}/storage/CERT_REG/nope`, Buffer.from('x'), {
      'x-onekyc-token': token,
    });
    await waitFor('both callbacks', () => receiver.received.length === 3);
    const text = lines.join('');
    expect(text).toContain('sandbox submission confirmed');
    for (const secret of [
      nik,
      'Budi Santoso',
      'budi@example.com',
      '07-03-1980',
      token,
      credentials.passKey,
      credentials.clientId,
      'cb-secret-1',
      user.userId,
    ])
      expect(text).not.toContain(secret);
  } finally {
    await sandbox.close();
    await receiver.close();
  }
});
