import type http from 'node:http';

/** Write a small JSON answer. Bodies name outcomes and fields, never request values. */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

const okBody = '{"ok":true}';
/** The answer to every callback taken, built once (it is sent for each of them). */
const okHeaders = [
  'Content-Type',
  'application/json; charset=utf-8',
  'Content-Length',
  String(Buffer.byteLength(okBody)),
  'Cache-Control',
  'no-store',
];

/** `200 {"ok":true}`, the same bytes sendJson writes for it. */
export function sendOk(res: http.ServerResponse): void {
  res.writeHead(200, okHeaders);
  res.end(okBody);
}
