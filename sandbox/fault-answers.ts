import type { ServerResponse } from 'node:http';
import type { AnswerFault, FaultState } from './faults.ts';
import {
  alterAnswer,
  sendEsignError,
  sendGatewayPage,
  sendStorageError,
  type AnswerAlteration,
} from './http.ts';
import type { SandboxEndpoint } from './types.ts';

/**
 * How faults shape answers: the failure or 429 a call fault answers instead of the handler,
 * and the change an answer fault makes to what a handler answered (withheld, malformed, cut,
 * or grown by an undocumented field).
 */

/** The answer of a call that a `fail` or `rate-limit` fault stops before its handler. */
export function sendFault(
  response: ServerResponse,
  endpoint: SandboxEndpoint,
  kind: 'fail' | 'rate-limit',
  faults: FaultState,
): void {
  if (kind === 'rate-limit') {
    const headers = { 'retry-after': String(faults.retryAfterSeconds) };
    if (endpoint === 'upload')
      return sendStorageError(response, 429, 'SlowDown', 'Please reduce your request rate.', {
        ...headers,
      });
    return sendEsignError(response, 429, [{ code: '429', cause: 'TOO_MANY_REQUESTS' }], {
      headers,
    });
  }
  const status = faults.failStatus;
  if (faults.failBodyBytes > 0) return sendGatewayPage(response, status, faults.failBodyBytes);
  if (endpoint === 'upload')
    return sendStorageError(
      response,
      status,
      'InternalError',
      'We encountered an internal error. Please try again.',
    );
  sendEsignError(response, status, [{ code: '900', cause: 'GENERIC_SERVICE_ERROR' }]);
}

/**
 * Apply an answer fault (and `extraFields`) to the answer the handler will write.
 * `withheld` is told when an answer is lost, with the status it would have had.
 */
export function shapeAnswer(
  response: ServerResponse,
  fault: AnswerFault,
  extraFields: boolean,
  withheld: (status: number) => void,
): void {
  if (fault === 'none' && !extraFields) return;
  const alteration: AnswerAlteration = {};
  if (fault === 'lose') alteration.withhold = withheld;
  if (fault === 'truncate') alteration.truncate = true;
  const grow = extraFields ? withExtraField : (body: unknown) => body;
  alteration.rewrite = fault === 'malform' ? (body) => wrapStrings(grow(body)) : grow;
  alterAnswer(response, alteration);
}

/** The field `extraFields` adds, top level and in `data`. */
export const extraFieldName = 'sandboxUndocumentedField';

function withExtraField(body: unknown): unknown {
  if (!isObject(body)) return body;
  const grown: Record<string, unknown> = { ...body, [extraFieldName]: 'ignore me' };
  if (isObject(body.data)) grown.data = { ...body.data, [extraFieldName]: 'ignore me' };
  return grown;
}

/** Every string, at any depth, wrapped in an array: the values are all there, the shape is not. */
function wrapStrings(value: unknown): unknown {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map(wrapStrings);
  if (isObject(value))
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, wrapStrings(v)]));
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
