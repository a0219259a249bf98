import { base64Pieces, base64TooLong } from './base64.ts';
import { lengthOf, type ImagePieces } from './pieces.ts';
import { withDeadline } from './deadline.ts';
import { judgeUrl, type UrlRefusal } from './hosts.ts';
import { imageLimits, readTimeoutMs, urlRules } from './policy.ts';
import { openInsideRoot, type SafeOpen } from './safe-open.ts';
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
 * base64 is judged whole here (format, structure, pixel limits): the bytes are at hand. Files
 * are opened as at upload (safe-open.ts) and recognised by their first bytes; their whole
 * structure, like a URL's bytes, is judged when read at upload. No network: URLs are checked
 * by scheme, host, port and IP literal only.
 */
export async function checkImageSource(
  doc: CheckDocument,
  source: ImageSource,
  policy: ImagePolicy,
  decoded?: DecodedImages,
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
        : checkBase64(valid.base64, policy, (bytes) => {
            if (decoded) decoded[doc] = bytes;
          });
  return problems.map((problem) => `${field}: ${problem}`);
}

/**
 * The bytes of the inline images that passed, by document: the check decodes them anyway, and
 * decoding ~14 M characters again to store them would double the enqueue's cost.
 */
export type DecodedImages = Partial<Record<CheckDocument, ImagePieces>>;

/**
 * Both documents of a registration at once: every problem of either, KTP first. `decoded`, when
 * given, receives the bytes of each inline image that passed.
 */
export async function checkImageSources(
  images: { ktp: ImageSource; selfie: ImageSource },
  policy: ImagePolicy,
  decoded?: DecodedImages,
): Promise<string[]> {
  const [ktp, selfie] = await Promise.all([
    checkImageSource('ktp', images.ktp, policy, decoded),
    checkImageSource('selfie', images.selfie, policy, decoded),
  ]);
  return [...ktp, ...selfie];
}

const pathProblems: Record<Exclude<SafeOpen['kind'], 'file'>, string> = {
  outside: 'path must be inside the image root',
  missing: 'path does not exist',
  unreadable: 'path cannot be read',
  'not-a-file': 'path is not a regular file',
};

async function checkPath(path: string, policy: ImagePolicy): Promise<string[]> {
  const bounds = { timeoutMs: readTimeoutMs(policy) };
  let opened: SafeOpen;
  try {
    opened = await openInsideRoot(policy.root, path, bounds);
  } catch {
    return ['path cannot be read'];
  }
  if (opened.kind !== 'file') return [pathProblems[opened.kind]];
  const { handle, size } = opened;
  try {
    if (size > policy.maxBytes)
      return [`path is larger than the limit of ${policy.maxBytes} bytes`];
    const head = Buffer.alloc(sniffLength);
    const { bytesRead } = await withDeadline(
      handle.read(head, 0, sniffLength, 0),
      bounds.timeoutMs,
      undefined,
    );
    return sniffImageType(head.subarray(0, bytesRead)) ? [] : ['path is not a JPEG or PNG image'];
  } catch {
    return ['path cannot be read'];
  } finally {
    // Not awaited: a read abandoned at its deadline may still hold the handle.
    void handle.close().catch(() => undefined);
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

function checkBase64(
  text: string,
  policy: ImagePolicy,
  keep?: (bytes: ImagePieces) => void,
): string[] {
  const tooLarge = `base64 decodes to more than the limit of ${policy.maxBytes} bytes`;
  // Size first, before any scan of the text (see base64.ts).
  if (base64TooLong(text, policy.maxBytes)) return [tooLarge];
  // A data URL is the common mistake: say so rather than "not valid base64".
  if (text.startsWith('data:'))
    return ['base64 must be the bare base64 text, without a data: URL prefix'];
  const bytes = base64Pieces(text);
  if (bytes === undefined) return ['base64 is not valid base64'];
  if (lengthOf(bytes) > policy.maxBytes) return [tooLarge];
  try {
    inspectImage(bytes, imageLimits(policy));
  } catch (error) {
    if (error instanceof ImageProblem) return [`base64 ${error.reason}`];
    throw error;
  }
  keep?.(bytes);
  return [];
}
