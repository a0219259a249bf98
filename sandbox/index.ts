import type { AddressInfo } from 'node:net';
import { silentLogger } from '../src/lib/logger.ts';
import { CallbackSender } from './callbacks.ts';
import type { SandboxContext } from './context.ts';
import { FaultState, sandboxFaultsSchema } from './faults.ts';
import { Recorder } from './inspection.ts';
import { Processor } from './processing.ts';
import { createSandboxServer } from './server.ts';
import { UrlSigner } from './storage.ts';
import { SubmissionStore } from './submissions.ts';
import { TokenStore } from './token.ts';
import type { SandboxFaults, SandboxOptions, SandboxSnapshot } from './types.ts';

/**
 * The Esign sandbox: a strict simulator of the CERT_REG platform (token host, API gateway,
 * presigned object storage, asynchronous processing and result callbacks) on one node:http
 * server, with fault injection and inspection for tests and the demo.
 */

export { nikForScenario, scenarioNames } from './scenarios.ts';
export { sandboxFaultsSchema } from './faults.ts';
export type * from './types.ts';

export interface Sandbox {
  /** Base URL: serves the token host paths, the API paths and storage. */
  url: string;
  /** Merge at run time. */
  setFaults(faults: Partial<SandboxFaults>): void;
  /** Every token issued so far becomes invalid (→ 401 `110`). */
  revokeTokens(): void;
  inspect(): SandboxSnapshot;
  /** Stops the server, processing timers and pending callback deliveries. */
  close(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? silentLogger();
  const now = (): number => Date.now();
  const faults = new FaultState(sandboxFaultsOrThrow(options.faults ?? {}));
  const callbacks = new CallbackSender(
    options.callback,
    options.callbackRetry ?? { attempts: 6, baseDelayMs: 200 },
    faults,
    logger,
  );
  const processor = new Processor({
    processingMs: options.processingMs ?? 200,
    callbacks,
    faults,
    logger,
    now,
  });
  const tokens = new TokenStore(now);
  const store = new SubmissionStore();
  const recorder = new Recorder();
  // The signer needs the public URL, known only once the port is bound: filled in below.
  const context: Omit<SandboxContext, 'signer'> & { signer?: UrlSigner } = {
    clientId: options.clientId,
    passKey: options.passKey,
    onboardingPartner: options.onboardingPartner,
    tokenTtlSeconds: options.tokenTtlSeconds ?? 1800,
    tokens,
    store,
    faults,
    recorder,
    processor,
    logger,
  };
  const inspect = (): SandboxSnapshot =>
    recorder.snapshot({
      tokensIssued: tokens.issued,
      store,
      callbacks: callbacks.records,
      faults: faults.current(),
    });
  const { server, abortPending } = createSandboxServer(context as SandboxContext, {
    inspect,
    revokeTokens: () => tokens.revokeAll(),
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${urlHost}:${address.port}`;
  context.signer = new UrlSigner(options.publicUrl ?? url, options.urlTtlSeconds ?? 432_000, now);
  logger.info({ url, callbacks: callbacks.enabled }, 'sandbox listening');

  let closed: Promise<void> | undefined;
  return {
    url,
    setFaults: (patch) => faults.merge(sandboxFaultsOrThrow(patch)),
    revokeTokens: () => tokens.revokeAll(),
    inspect,
    close() {
      closed ??= (async () => {
        processor.close();
        abortPending();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await Promise.all([stopped, callbacks.close()]);
      })();
      return closed;
    },
  };
}

/** Programmatic faults are validated like the HTTP ones, so a bad rate fails loudly. */
function sandboxFaultsOrThrow(patch: Partial<SandboxFaults>): Partial<SandboxFaults> {
  return sandboxFaultsSchema.parse(patch);
}
