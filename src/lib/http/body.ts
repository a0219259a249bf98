import type http from 'node:http';

/**
 * Reading a callback body: JSON only, bounded in size. A callback is a few hundred bytes;
 * the limit keeps a misbehaving or hostile sender from making us buffer megabytes.
 */

export const maxBodyBytes = 64 * 1024;

export type BodyResult =
  | { kind: 'json'; value: unknown }
  | { kind: 'unsupported-media-type' }
  | { kind: 'too-large' }
  | { kind: 'malformed' }
  | { kind: 'aborted' };

/** `application/json`, with or without parameters (charset must be UTF-8 when given). */
export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const [type = '', ...params] = header.split(';').map((part) => part.trim().toLowerCase());
  if (type !== 'application/json') return false;
  return params.every(
    (param) => !param.startsWith('charset=') || /^charset="?utf-8"?$/.test(param),
  );
}

export async function readJsonBody(
  req: http.IncomingMessage,
  limit = maxBodyBytes,
): Promise<BodyResult> {
  if (!isJsonContentType(req.headers['content-type'])) return { kind: 'unsupported-media-type' };
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity')
    return { kind: 'unsupported-media-type' };
  // Refuse a declared oversize body before reading a byte of it.
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return { kind: 'too-large' };

  const body = await collect(req, limit);
  if (!Buffer.isBuffer(body)) return body;
  try {
    return { kind: 'json', value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    // The SyntaxError's message quotes the input; it must not travel further.
    return { kind: 'malformed' };
  }
}

/**
 * Buffer the body up to `limit`. Event listeners rather than `for await`, because leaving
 * an async iterator early destroys the socket, and the 413 could then never be sent.
 */
function collect(
  req: http.IncomingMessage,
  limit: number,
): Promise<Buffer | { kind: 'too-large' } | { kind: 'aborted' }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Buffer | { kind: 'too-large' } | { kind: 'aborted' }): void => {
      req.off('data', onData).off('end', onEnd).off('error', onAbort).off('close', onAbort);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading; the caller answers 413 and closes the connection.
        req.pause();
        finish({ kind: 'too-large' });
      } else chunks.push(chunk);
    };
    const onEnd = (): void => finish(Buffer.concat(chunks));
    const onAbort = (): void => finish({ kind: 'aborted' });
    req.on('data', onData).on('end', onEnd).on('error', onAbort).on('close', onAbort);
  });
}
