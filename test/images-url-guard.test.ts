import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/lib/config.ts';
import { isWorkerError, type WorkerError } from '../src/lib/errors.ts';
import { request } from 'undici';
import { classifyAddress } from '../src/lib/images/addresses.ts';
import { imageAgent } from '../src/lib/images/connector.ts';
import {
  checkImageSource,
  imagePolicyFromConfig,
  openImage,
  type ImagePolicy,
} from '../src/lib/images/index.ts';
import { syntheticJpeg } from '../sandbox/synthetic-images.ts';

/**
 * Issue "KYC data protection", hole 2: the URL guard compared host names only. With
 * IMAGE_URL_ALLOWED_HOSTS=localhost, =127.0.0.1 or a name whose DNS answers 127.0.0.1, an
 * internal service on another port was fetched, and a bare host allowed any port. The server
 * below stands for that internal service: it counts every request it receives.
 */
const jpeg = syntheticJpeg(31);
let server: Server;
let port: number;
let requests = 0;

beforeAll(async () => {
  server = createServer((_req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const base = (overrides: Partial<ImagePolicy>): ImagePolicy => ({
  root: '/nonexistent',
  allowedHosts: [],
  maxBytes: 1_000_000,
  fetchTimeoutMs: 2_000,
  ...overrides,
});

async function refusal(url: string, policy: ImagePolicy): Promise<WorkerError> {
  const before = requests;
  const error = await openImage('KTP', { url }, policy).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isWorkerError(error)) throw new Error(`expected a WorkerError, got ${String(error)}`);
  // Refused before any request: the internal service never heard of it.
  expect(requests).toBe(before);
  return error;
}

describe('URL sources: the address actually connected', () => {
  it('refuses an allowlisted name that resolves to 127.0.0.1, sending no request', async () => {
    const policy = base({ allowedHosts: [`localhost:${port}`], allowHttp: true });
    expect(
      await checkImageSource('ktp', { url: `http://localhost:${port}/ktp.jpg` }, policy),
    ).toEqual([
      'images.ktp: url host is a private or local address (needs IMAGE_URL_ALLOW_PRIVATE_NETWORKS=true)',
    ]);
    const error = await refusal(`http://localhost:${port}/ktp.jpg`, policy);
    expect([error.code, error.retryable]).toEqual(['IMAGE_SOURCE_FAILED', false]);
    expect(error.message).toContain('private or local address');
    expect(error.message).not.toContain('localhost');
  });

  // The name check above is only the early message; a name re-pointed at 127.0.0.1 after
  // enqueue, or met on a redirect, is stopped by the dispatcher itself: DNS answers and the
  // connected socket's address are judged, whatever the name.
  it('the download dispatcher refuses a name that resolves to loopback, sending nothing', async () => {
    for (const host of ['localhost', '127.0.0.1', '[::ffff:127.0.0.1]']) {
      const before = requests;
      const error = await request(`http://${host}:${port}/ktp.jpg`, {
        dispatcher: imageAgent(false, 2_000),
      }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ code: 'ERR_IMAGE_ADDRESS_REFUSED' });
      expect(requests).toBe(before);
    }
    const allowed = await request(`http://localhost:${port}/ktp.jpg`, {
      dispatcher: imageAgent(true, 2_000),
    });
    expect(allowed.statusCode).toBe(200);
    await allowed.body.dump();
  });

  it('refuses IP literals of loopback, also as IPv4-mapped IPv6, at enqueue and at upload', async () => {
    for (const host of ['127.0.0.1', '[::ffff:7f00:1]']) {
      const policy = base({ allowedHosts: [`${host}:${port}`], allowHttp: true });
      const url = `http://${host}:${port}/ktp.jpg`;
      expect(await checkImageSource('ktp', { url }, policy)).toEqual([
        'images.ktp: url host is a private or local address (needs IMAGE_URL_ALLOW_PRIVATE_NETWORKS=true)',
      ]);
      const error = await refusal(url, policy);
      expect([error.code, error.retryable]).toEqual(['IMAGE_SOURCE_FAILED', false]);
    }
  });

  it('refuses a port the allowlist does not name: a bare host means 443 only', async () => {
    const policy = base({
      allowedHosts: ['127.0.0.1'],
      allowHttp: true,
      allowPrivateNetworks: true,
    });
    const url = `http://127.0.0.1:${port}/ktp.jpg`;
    expect(await checkImageSource('ktp', { url }, policy)).toEqual([
      'images.ktp: url host is not in IMAGE_URL_ALLOWED_HOSTS',
    ]);
    const error = await refusal(url, policy);
    expect([error.code, error.retryable]).toEqual(['IMAGE_SOURCE_FAILED', false]);
  });

  it('refuses http unless IMAGE_URL_ALLOW_HTTP', async () => {
    const policy = base({ allowedHosts: [`127.0.0.1:${port}`], allowPrivateNetworks: true });
    const error = await refusal(`http://127.0.0.1:${port}/ktp.jpg`, policy);
    expect(error.message).toContain('not https');
  });

  it('fetches the same URLs once the deployment opts in (tests, on-premises)', async () => {
    const policy = base({
      allowedHosts: [`localhost:${port}`, `127.0.0.1:${port}`],
      allowHttp: true,
      allowPrivateNetworks: true,
    });
    for (const url of [`http://localhost:${port}/a.jpg`, `http://127.0.0.1:${port}/b.jpg`]) {
      const before = requests;
      const opened = await openImage('KTP', { url }, policy);
      expect(Buffer.concat((await opened.stream.toArray()) as Buffer[]).equals(jpeg)).toBe(true);
      expect(requests).toBe(before + 1);
    }
  });

  it('reads the opt-ins from the environment, off by default', () => {
    const env = { IMAGE_URL_ALLOWED_HOSTS: 'img.example.com, cdn.example.com:8443' };
    const strict = imagePolicyFromConfig(loadConfig(env, ['pipeline']).pipeline);
    expect([strict.allowHttp, strict.allowPrivateNetworks]).toEqual([false, false]);
    const open = imagePolicyFromConfig(
      loadConfig(
        { ...env, IMAGE_URL_ALLOW_HTTP: 'true', IMAGE_URL_ALLOW_PRIVATE_NETWORKS: 'true' },
        ['pipeline'],
      ).pipeline,
    );
    expect([open.allowHttp, open.allowPrivateNetworks]).toEqual([true, true]);
  });
});

describe('classifyAddress', () => {
  const cases: [string, 'public' | 'private' | 'forbidden'][] = [
    ['127.0.0.1', 'private'],
    ['127.255.0.9', 'private'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.254', 'private'],
    ['::1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.169.254', 'forbidden'],
    ['fe80::1', 'forbidden'],
    ['fe80::1%eth0', 'forbidden'],
    ['0.0.0.0', 'forbidden'],
    ['::', 'forbidden'],
    ['224.0.0.1', 'forbidden'],
    ['ff02::1', 'forbidden'],
    ['255.255.255.255', 'forbidden'],
    ['::ffff:127.0.0.1', 'private'],
    ['::ffff:7f00:1', 'private'],
    ['::ffff:a9fe:a9fe', 'forbidden'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'private'],
    ['2002:c0a8:0101::1', 'private'],
    ['::127.0.0.1', 'private'],
    ['not-an-address', 'forbidden'],
    ['8.8.8.8', 'public'],
    ['100.128.0.1', 'public'],
    ['172.32.0.1', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['::ffff:8.8.8.8', 'public'],
  ];
  it.each(cases)('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });
});
