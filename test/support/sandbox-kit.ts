import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../sandbox/index.ts';
import { confirmMetadata } from './requests.ts';

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-explicit-any -- tests read the sandbox's JSON answers field by field */

/** Helpers for the sandbox tests: real HTTP against a sandbox on port 0. */

export const credentials = {
  clientId: 'b31fa508-331c-4e9e-9a60-b0f28c3f7e13',
  passKey: '2c7b2893-e49f-4cf3-89e6-1b9c5bf0500b',
  onboardingPartner: 'CLIENT_X-BE-CERT_REG',
};

export const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]);
export const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00]);

export function startTestSandbox(options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  return startSandbox({ ...credentials, port: 0, processingMs: 20, ...options });
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export async function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  const response = await request(url, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers,
    body: options.body,
  });
  const text = await response.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.statusCode, headers: response.headers, text, json };
}

export const tokenPath = '/v1/esign/partner/authentication';

/** The token call with the kit's credentials, as answered. */
export function tokenCall(sandbox: Sandbox): Promise<Reply> {
  return call(`${sandbox.url}${tokenPath}`, {
    headers: { 'client-id': credentials.clientId, 'pass-key': credentials.passKey },
  });
}

export async function getToken(sandbox: Sandbox): Promise<string> {
  const reply = await tokenCall(sandbox);
  if (reply.status !== 200) throw new Error(`token: ${reply.status}`);
  return reply.json.data.token as string;
}

export interface User {
  userId: string;
  userIdType: string;
}

export function newUser(): User {
  return { userId: `user-${randomUUID().slice(0, 8)}`, userIdType: 'CLIENT_X_USER_ID' };
}

export function partnerHeaders(token: string, user: User): Record<string, string> {
  return {
    'x-onekyc-token': token,
    'x-esign-onboarding-partner': credentials.onboardingPartner,
    'x-partner-user-id': user.userId,
    'x-partner-user-id-type': user.userIdType,
    'x-partner-session-id': randomUUID(),
  };
}

export const createPath = '/esign-partner/v1/submissions/urls?submissionType=CERT_REG';
export const confirmPath = '/esign-partner/v1/submissions/urls';
export const pollPath = '/esign-partner/v1/submissions';

export interface Created {
  submissionId: string;
  ktpUrl: string;
  selfieUrl: string;
}

export async function createSubmission(
  sandbox: Sandbox,
  token: string,
  user: User,
): Promise<Created> {
  const reply = await call(`${sandbox.url}${createPath}`, { headers: partnerHeaders(token, user) });
  if (reply.status !== 200) throw new Error(`create: ${reply.status} ${reply.text}`);
  return {
    submissionId: reply.json.data.submissionId as string,
    ktpUrl: reply.json.data.documents.KTP.documentUrl as string,
    selfieUrl: reply.json.data.documents.SELFIE.documentUrl as string,
  };
}

export function upload(
  url: string,
  body: Buffer = jpeg,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return call(url, { method: 'PUT', body, headers: { 'content-type': 'image/jpeg', ...headers } });
}

/**
 * A confirm body as the docs' example writes it; the NIK goes in verbatim as a JSON number
 * (or as a string with `nikAs: 'string'`). `patch` edits userDetails / metadata.
 */
export function confirmBody(
  submissionId: string,
  nik: string,
  options: {
    nikAs?: 'number' | 'string';
    userDetails?: Record<string, unknown>;
    metadata?: Record<string, unknown>;
  } = {},
): string {
  const marker = '"__NIK__"';
  const base = confirmMetadata('__NIK__');
  const body = {
    submissionId,
    metadata: {
      ...base,
      userDetails: {
        ...base.userDetails,
        dataVerification: { email: { isVerified: true, verificationReferenceId: randomUUID() } },
        ...options.userDetails,
      },
      ...options.metadata,
    },
  };
  const nikText = options.nikAs === 'string' ? JSON.stringify(nik) : nik;
  return JSON.stringify(body).replace(marker, nikText);
}

export function confirm(sandbox: Sandbox, token: string, user: User, body: string): Promise<Reply> {
  return call(`${sandbox.url}${confirmPath}`, {
    method: 'PUT',
    headers: { ...partnerHeaders(token, user), 'content-type': 'application/json' },
    body,
  });
}

/** Create, upload both images and confirm with `nik`; returns the submission id. */
export async function register(
  sandbox: Sandbox,
  token: string,
  user: User,
  nik: string,
): Promise<string> {
  const created = await createSubmission(sandbox, token, user);
  await upload(created.ktpUrl);
  await upload(created.selfieUrl, png);
  const reply = await confirm(sandbox, token, user, confirmBody(created.submissionId, nik));
  if (reply.status !== 200) throw new Error(`confirm: ${reply.status} ${reply.text}`);
  return created.submissionId;
}

export interface Received {
  method: string;
  headers: IncomingHttpHeaders;
  body: any;
}

export interface Receiver {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** A callback endpoint on port 0; `answer(n)` gives the HTTP status for the n-th request (0-based). */
export async function startReceiver(
  answer: (index: number) => number = () => 200,
): Promise<Receiver> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const index = received.length;
      received.push({
        method: req.method ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
      });
      res.writeHead(answer(index)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/callbacks/esign`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `check` until it returns true; throws with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
