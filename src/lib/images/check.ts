import { open, stat } from 'node:fs/promises';
import { base64TooLong, decodeBase64, decodedSize, normaliseBase64 } from './base64.ts';
import { judgeUrl, type UrlRefusal } from './hosts.ts';
import { resolveInsideRoot } from './root.ts';
import { imageLimits, urlRules } from './policy.ts';
import { ImageProblem, inspectImage } from './scan.ts';
import { sniffImageType, sniffLength } from './sniff.ts';
import {
  imageSourceSchema,
  type CheckDocument,
  type ImagePolicy,
  type ImageSource,
} from './source.ts';

/**
 * At enqueue: every problem with one image source, as `images.<doc>: …` lines that name the
 * field and the rule, never the path, URL or bytes (a file name can carry a NIK). Inline
 * base64 is judged whole here (format, structure, pixel limits): the bytes are at hand. No
 * network: URLs are checked by scheme, host, port and IP literal only; their bytes are judged
 * at upload time.
 */
export async function checkImageSource(
  doc: CheckDocument,
  source: ImageSource,
  policy: ImagePolicy,
): Promise<string[]> {
  const field = `images.${doc}`;
  const parsed = imageSourceSchema.safeParse(source);
  if (!parsed.success) return parsed.error.issues.map((issue) => `${field}: ${issue.message}`);
  const valid = parsed.data;
  const problems =
    'path' in valid
      ? await checkPath(valid.path, policy)
      : 'url' in valid
        ? checkUrl(valid.url, policy)
        : checkBase64(valid.base64, policy);
  return problems.map((problem) => `${field}: ${problem}`);
}

/** Both documents of a registration at once: every problem of either, KTP first. */
export async function checkImageSources(
  images: { ktp: ImageSource; selfie: ImageSource },
  policy: ImagePolicy,
): Promise<string[]> {
  const [ktp, selfie] = await Promise.all([
    checkImageSource('ktp', images.ktp, policy),
    checkImageSource('selfie', images.selfie, policy),
  ]);
  return [...ktp, ...selfie];
}

async function checkPath(path: string, policy: ImagePolicy): Promise<string[]> {
  const resolved = await resolveInsideRoot(policy.root, path);
  switch (resolved.kind) {
    case 'outside':
      return ['path must be inside the image root'];
    case 'missing':
      return ['path does not exist'];
    case 'unreadable':
      return ['path cannot be read'];
    case 'inside':
      break;
  }
  try {
    const info = await stat(resolved.realPath);
    if (!info.isFile()) return ['path is not a regular file'];
    if (info.size > policy.maxBytes)
      return [`path is larger than the limit of ${policy.maxBytes} bytes`];
    const head = await readHead(resolved.realPath);
    return sniffImageType(head) ? [] : ['path is not a JPEG or PNG image'];
  } catch {
    return ['path cannot be read'];
  }
}

async function readHead(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(sniffLength);
    const { bytesRead } = await handle.read(buffer, 0, sniffLength, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

const urlProblems: Record<UrlRefusal, string> = {
  'not-http': 'url must be an http or https URL',
  'http-not-allowed': 'url must be https (http needs IMAGE_URL_ALLOW_HTTP=true)',
  'host-not-allowed': 'url host is not in IMAGE_URL_ALLOWED_HOSTS',
  'private-address':
    'url host is a private or local address (needs IMAGE_URL_ALLOW_PRIVATE_NETWORKS=true)',
};

function checkUrl(text: string, policy: ImagePolicy): string[] {
  const judged = judgeUrl(text, urlRules(policy));
  return 'refusal' in judged ? [urlProblems[judged.refusal]] : [];
}

function checkBase64(text: string, policy: ImagePolicy): string[] {
  const tooLarge = `base64 decodes to more than the limit of ${policy.maxBytes} bytes`;
  // Size first, before any scan of the text (see base64.ts).
  if (base64TooLong(text, policy.maxBytes)) return [tooLarge];
  const normalised = normaliseBase64(text);
  if (normalised === undefined) return ['base64 is not valid base64'];
  if (decodedSize(normalised) > policy.maxBytes) return [tooLarge];
  try {
    inspectImage(decodeBase64(normalised), imageLimits(policy));
    return [];
  } catch (error) {
    if (error instanceof ImageProblem) return [`base64 ${error.reason}`];
    throw error;
  }
}
