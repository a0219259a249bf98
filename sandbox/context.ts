import type { Logger } from '../src/lib/logger.ts';
import type { FaultState } from './faults.ts';
import type { Recorder } from './inspection.ts';
import type { Processor } from './processing.ts';
import type { UrlSigner } from './storage.ts';
import type { SubmissionStore } from './submissions.ts';
import type { TokenStore } from './token.ts';

/** Everything a sandbox handler may need, built once per sandbox instance by index.ts. */
export interface SandboxContext {
  clientId: string;
  passKey: string;
  onboardingPartner: string;
  tokenTtlSeconds: number;
  tokens: TokenStore;
  store: SubmissionStore;
  signer: UrlSigner;
  faults: FaultState;
  recorder: Recorder;
  processor: Processor;
  logger: Logger;
}
