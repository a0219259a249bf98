import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkImageSource,
  checkImageSources,
  imageSourceSchema,
  type ImagePolicy,
  type ImageSource,
} from '../src/lib/images/index.ts';
import { syntheticJpeg, syntheticPng } from '../sandbox/synthetic-images.ts';

// A NIK-like file name: it must never appear in a problem message.
const nikName = '3171234567890001.jpg';

let base: string;
let root: string;
let policy: ImagePolicy;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'images-check-'));
  root = join(base, 'root');
  await mkdir(join(root, 'users'), { recursive: true });
  await writeFile(join(root, 'users', nikName), syntheticJpeg(1));
  await writeFile(join(root, 'selfie.png'), syntheticPng(2));
  await writeFile(join(root, 'notes.txt'), 'not an image at all');
  await writeFile(join(root, 'big.jpg'), Buffer.concat([syntheticJpeg(3), Buffer.alloc(20_000)]));
  await writeFile(join(base, 'outside.jpg'), syntheticJpeg(4));
  await symlink(join(base, 'outside.jpg'), join(root, 'escape.jpg'));
  await symlink(join(root, 'selfie.png'), join(root, 'alias.png'));
  policy = { root, allowedHosts: ['images.example.com', 'cdn.example.org:8443'], maxBytes: 16_000 };
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

const check = (source: ImageSource) => checkImageSource('ktp', source, policy);

describe('imageSourceSchema', () => {
  it('accepts exactly one non-empty key', () => {
    for (const source of [{ path: 'a.jpg' }, { url: 'https://x' }, { base64: 'AAAA' }])
      expect(imageSourceSchema.safeParse(source).success).toBe(true);
  });

  it('rejects two keys, no key, unknown keys, empty and non-string values', () => {
    for (const source of [
      { path: 'a', url: 'b' },
      {},
      { file: 'a' },
      { path: '' },
      { url: 3 },
      'a',
    ])
      expect(imageSourceSchema.safeParse(source).success).toBe(false);
  });

  it('explains a bad shape without echoing values', () => {
    const result = imageSourceSchema.safeParse({ path: nikName, url: 'https://secret.example/t' });
    const text = JSON.stringify(result.error?.issues.map((issue) => issue.message));
    expect(text).toContain('exactly one of path, url or base64');
    expect(text).not.toContain('3171234567890001');
    expect(text).not.toContain('secret');
  });
});

describe('checkImageSource: path', () => {
  it('accepts a JPEG or PNG inside the root, relative or absolute', async () => {
    expect(await check({ path: `users/${nikName}` })).toEqual([]);
    expect(await check({ path: join(root, 'selfie.png') })).toEqual([]);
    expect(await check({ path: 'users/../selfie.png' })).toEqual([]);
  });

  it('accepts a symlink that stays inside the root', async () => {
    expect(await check({ path: 'alias.png' })).toEqual([]);
  });

  it('rejects ../ escapes and absolute paths outside the root', async () => {
    expect(await check({ path: '../outside.jpg' })).toEqual([
      'images.ktp: path must be inside the image root',
    ]);
    expect(await check({ path: join(base, 'outside.jpg') })).toEqual([
      'images.ktp: path must be inside the image root',
    ]);
  });

  it('rejects a symlink inside the root that points outside it', async () => {
    expect(await check({ path: 'escape.jpg' })).toEqual([
      'images.ktp: path must be inside the image root',
    ]);
  });

  it('rejects a missing file, a directory, an oversized file and a non-image', async () => {
    expect(await check({ path: 'users/missing.jpg' })).toEqual(['images.ktp: path does not exist']);
    expect(await check({ path: 'users' })).toEqual(['images.ktp: path is not a regular file']);
    expect(await check({ path: 'big.jpg' })).toEqual([
      'images.ktp: path is larger than the limit of 16000 bytes',
    ]);
    expect(await check({ path: 'notes.txt' })).toEqual([
      'images.ktp: path is not a JPEG or PNG image',
    ]);
  });
});

describe('checkImageSource: url', () => {
  it('accepts https URLs on allowed hosts, case-insensitively: port 443 for a bare entry, the listed port for host:port', async () => {
    expect(await check({ url: 'https://IMAGES.example.com/ktp.jpg?sig=1' })).toEqual([]);
    expect(await check({ url: 'https://images.example.com:443/ktp.jpg' })).toEqual([]);
    expect(await check({ url: 'https://cdn.example.org:8443/a.png' })).toEqual([]);
  });

  // A bare host used to allow every port, and http: an admin API next to the image server.
  it('refuses other ports of a bare entry, and http unless IMAGE_URL_ALLOW_HTTP', async () => {
    expect(await check({ url: 'https://images.example.com:8080/ktp.jpg' })).toEqual([
      'images.ktp: url host is not in IMAGE_URL_ALLOWED_HOSTS',
    ]);
    expect(await check({ url: 'http://images.example.com:8080/ktp.jpg' })).toEqual([
      'images.ktp: url must be https (http needs IMAGE_URL_ALLOW_HTTP=true)',
    ]);
    const http = { ...policy, allowHttp: true, allowedHosts: ['images.example.com:8080'] };
    expect(
      await checkImageSource('ktp', { url: 'http://images.example.com:8080/k.jpg' }, http),
    ).toEqual([]);
  });

  it('rejects other hosts, other ports of a host:port entry, and other schemes', async () => {
    const notAllowed = ['images.ktp: url host is not in IMAGE_URL_ALLOWED_HOSTS'];
    expect(await check({ url: 'https://evil.example.net/ktp.jpg' })).toEqual(notAllowed);
    expect(await check({ url: 'https://images.example.com.evil.net/ktp.jpg' })).toEqual(notAllowed);
    expect(await check({ url: 'https://cdn.example.org/a.png' })).toEqual(notAllowed);
    expect(await check({ url: 'ftp://images.example.com/ktp.jpg' })).toEqual([
      'images.ktp: url must be an http or https URL',
    ]);
    expect(await check({ url: 'not a url' })).toEqual([
      'images.ktp: url must be an http or https URL',
    ]);
  });
});

describe('checkImageSource: base64', () => {
  it('accepts a JPEG or PNG in standard or URL-safe base64', async () => {
    expect(await check({ base64: syntheticJpeg(5).toString('base64') })).toEqual([]);
    expect(await check({ base64: syntheticPng(5).toString('base64url') })).toEqual([]);
  });

  it('rejects invalid base64, too many bytes and non-images', async () => {
    expect(await check({ base64: 'not*base64!' })).toEqual([
      'images.ktp: base64 is not valid base64',
    ]);
    expect(await check({ base64: Buffer.alloc(16_001, 0xff).toString('base64') })).toEqual([
      'images.ktp: base64 decodes to more than the limit of 16000 bytes',
    ]);
    expect(await check({ base64: Buffer.from('GIF89a......').toString('base64') })).toEqual([
      'images.ktp: base64 is not a JPEG or PNG image',
    ]);
  });

  it('names a data: URL for what it is', async () => {
    const dataUrl = `data:image/jpeg;base64,${syntheticJpeg(5).toString('base64')}`;
    expect(await check({ base64: dataUrl })).toEqual([
      'images.ktp: base64 must be the bare base64 text, without a data: URL prefix',
    ]);
  });
});

describe('checkImageSources', () => {
  it('reports the problems of both documents together, naming no values', async () => {
    const problems = await checkImageSources(
      {
        ktp: { path: `../${nikName}` },
        selfie: { url: 'https://tracker.example.net/u/3171234567890001' },
      },
      policy,
    );
    expect(problems).toEqual([
      'images.ktp: path must be inside the image root',
      'images.selfie: url host is not in IMAGE_URL_ALLOWED_HOSTS',
    ]);
    expect(problems.join('\n')).not.toContain('3171234567890001');
  });

  it('reports a malformed source under its document', async () => {
    const problems = await checkImageSources(
      // TypeScript lets a union literal carry keys of several members; the schema does not.
      { ktp: { path: 'a', base64: 'b' }, selfie: { path: 'selfie.png' } },
      policy,
    );
    expect(problems).toEqual([
      'images.ktp: must have exactly one of path, url or base64, and nothing else',
    ]);
  });
});
