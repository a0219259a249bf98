import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeIssues } from '../src/lib/errors.ts';
import type { SandboxContext } from './context.ts';
import {
  handleConfirm,
  handleCreateSubmission,
  handleGetSubmission,
  handleToken,
} from './endpoints.ts';
import { sendFault, shapeAnswer } from './fault-answers.ts';
import { sandboxFaultsSchema } from './faults.ts';
import {
  apiBodyLimit,
  BodyTooLargeError,
  header,
  readBody,
  sendEsignError,
  sendJson,
  storageBodyLimit,
} from './http.ts';
import { handleUpload, storagePrefix } from './storage.ts';
import type { SandboxEndpoint, SandboxSnapshot } from './types.ts';

/**
 * Routing on node:http: the Esign token and API paths, the presigned storage, and the
 * `/__sandbox/*` control paths. Faults, holds and latency apply here, before any handler, as
 * a gateway in front of the real service would. Unknown paths answer 404, known paths with
 * the wrong method 405; a handler bug answers 500 and never takes the server down.
 */

type Route = { endpoint: SandboxEndpoint; method: string } | { control: string; method: string };

const routes: Record<string, Route[]> = {
  '/v1/esign/partner/authentication': [{ endpoint: 'token', method: 'GET' }],
  '/esign-partner/v1/submissions/urls': [
    { endpoint: 'create_submission', method: 'GET' },
    { endpoint: 'confirm', method: 'PUT' },
  ],
  '/esign-partner/v1/submissions': [{ endpoint: 'get_submission', method: 'GET' }],
  '/__sandbox/inspect': [{ control: 'inspect', method: 'GET' }],
  '/__sandbox/faults': [{ control: 'faults', method: 'PUT' }],
  '/__sandbox/revoke-tokens': [{ control: 'revoke', method: 'POST' }],
};

export interface SandboxControls {
  inspect(): SandboxSnapshot;
  revokeTokens(): void;
}

export interface SandboxServer {
  server: Server;
  /** Ends calls left hanging by a fault and pending latencies; the caller closes the server. */
  abortPending: () => void;
}

export function createSandboxServer(
  context: SandboxContext,
  controls: SandboxControls,
): SandboxServer {
  const hanging = new Set<ServerResponse>();
  const closing = new AbortController();

  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      if (closing.signal.aborted) return;
      context.logger.error({ err: error, path: pathOf(request) }, 'sandbox handler failed');
      sendEsignError(response, 500, [{ code: '900', cause: 'GENERIC_SERVICE_ERROR' }]);
    });
  });

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://sandbox.invalid');
    const path = url.pathname;
    const candidates = path.startsWith(storagePrefix)
      ? [{ endpoint: 'upload' as const, method: 'PUT' }]
      : routes[path];
    if (!candidates) {
      request.resume();
      return sendEsignError(response, 404, [{ code: '404', cause: 'NOT_FOUND' }]);
    }
    const matched = candidates.find((candidate) => candidate.method === request.method);
    if (!matched) {
      request.resume();
      const allow = candidates.map((candidate) => candidate.method).join(', ');
      return sendEsignError(response, 405, [{ code: '405', cause: 'METHOD_NOT_ALLOWED' }], {
        headers: { allow },
      });
    }
    if ('control' in matched) return control(matched.control, request, response);
    const endpoint = matched.endpoint;
    const record = context.recorder.request({
      endpoint,
      method: request.method ?? '',
      path: request.url ?? '/',
      headers: Object.keys(request.headers).sort(),
      contentType: header(request, 'content-type') ?? null,
      contentLength: header(request, 'content-length') ?? null,
      token: context.tokens.ordinal(header(request, 'x-onekyc-token')),
      sessionId: header(request, 'x-partner-session-id') ?? null,
    });
    const settle = (status: number | 'hang' | 'lost') =>
      context.recorder.call(endpoint, status, record);
    response.on('finish', () => settle(response.statusCode));
    const keepOpen = () => {
      hanging.add(response);
      response.on('close', () => hanging.delete(response));
    };

    if (context.faults.latencyMs > 0)
      await sleep(context.faults.latencyMs, undefined, { signal: closing.signal });
    const fault = context.faults.forCall(endpoint);
    if (fault.kind === 'hang') {
      settle('hang');
      request.resume();
      return keepOpen();
    }
    if (fault.kind !== 'none') {
      await readBody(request, endpoint === 'upload' ? storageBodyLimit : apiBodyLimit).catch(
        () => undefined,
      );
      return sendFault(response, endpoint, fault.kind, context.faults);
    }
    shapeAnswer(response, context.faults.forAnswer(endpoint), context.faults.extraFields, () => {
      settle('lost');
      keepOpen();
    });
    // A hold: the whole request is taken first, then kept, then applied as usual, whether or
    // not the client is still there (Esign processing a request its caller gave up on).
    const holdMs = context.faults.holdFor(endpoint);
    const hold = async (): Promise<void> => {
      if (holdMs <= 0) return;
      context.recorder.call(endpoint, 'held');
      await sleep(holdMs, undefined, { signal: closing.signal });
    };
    if (endpoint === 'upload') {
      const body = readBody(request, storageBodyLimit);
      if (holdMs > 0) {
        await body.catch(() => undefined);
        await hold();
      }
      return handleUpload(request, response, url, body, {
        signer: context.signer,
        store: context.store,
        recordLeak: (leak) => context.recorder.leak(leak),
        addBytes: (count) => context.recorder.bytes(count),
        successStatus: context.faults.uploadStatus,
      });
    }
    let body: Buffer;
    try {
      body = await readBody(request, apiBodyLimit);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      return sendEsignError(response, 413, [{ code: '413', cause: 'REQUEST_BODY_TOO_LARGE' }], {
        headers: { connection: 'close' },
      });
    }
    await hold();
    switch (endpoint) {
      case 'token':
        return handleToken(request, response, context);
      case 'create_submission':
        return handleCreateSubmission(request, response, url, context);
      case 'confirm':
        return handleConfirm(request, response, body, context);
      case 'get_submission':
        return handleGetSubmission(request, response, context);
    }
  }

  async function control(
    name: string,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    let body: Buffer;
    try {
      body = await readBody(request, apiBodyLimit);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      return sendJson(response, 413, { error: 'body too large' }, { connection: 'close' });
    }
    if (name === 'inspect') return sendJson(response, 200, controls.inspect());
    if (name === 'revoke') {
      controls.revokeTokens();
      return sendJson(response, 200, { revoked: true });
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return sendJson(response, 400, { error: 'faults must be a JSON object' });
    }
    const parsed = sandboxFaultsSchema.safeParse(json);
    if (!parsed.success)
      return sendJson(response, 400, {
        error: 'invalid faults',
        problems: describeIssues(parsed.error.issues),
      });
    context.faults.merge(parsed.data);
    sendJson(response, 200, { faults: context.faults.current() });
  }

  return {
    server,
    abortPending: () => {
      closing.abort();
      for (const response of hanging) response.destroy();
      hanging.clear();
    },
  };
}

function pathOf(request: IncomingMessage): string {
  return (request.url ?? '/').split('?')[0] ?? '/';
}
