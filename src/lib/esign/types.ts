import type { Readable } from 'node:stream';
import type { ConfirmMetadata, DocumentType, SubmissionState } from './schemas.ts';

/** Who a call is for: sent as x-partner-user-id / x-partner-user-id-type. */
export interface PartnerUser {
  userId: string;
  userIdType: string;
}

export interface PresignedDocument {
  url: string;
  reference: string;
  /** Absolute expiry (epoch ms), computed from expiryInSeconds at receipt. */
  expiresAt: number;
}

export interface CreatedSubmission {
  submissionId: string;
  status: string;
  documents: Record<DocumentType, PresignedDocument>;
}

export interface UploadBody {
  /** A stream (at most one image in memory) or bytes. */
  body: Readable | Uint8Array;
  contentType: 'image/jpeg' | 'image/png';
  contentLength?: number | undefined;
}

/** Endpoint names, also the `endpoint` label of the Esign request metrics. */
export type EsignEndpoint = 'token' | 'create_submission' | 'upload' | 'confirm' | 'get_submission';

/**
 * The Esign API, one method per endpoint. Errors are WorkerErrors, already classified
 * retryable/permanent. Every call except `uploadDocument` carries the shared partner token
 * and a fresh x-partner-session-id; `uploadDocument` sends nothing Esign-specific.
 */
export interface EsignClient {
  createSubmission(user: PartnerUser, signal?: AbortSignal): Promise<CreatedSubmission>;
  uploadDocument(url: string, upload: UploadBody, signal?: AbortSignal): Promise<void>;
  confirmUpload(
    user: PartnerUser,
    submissionId: string,
    metadata: ConfirmMetadata,
    signal?: AbortSignal,
  ): Promise<{ submissionId: string }>;
  /** The partner user's current submission (the API takes no submission id). */
  getSubmission(user: PartnerUser, signal?: AbortSignal): Promise<SubmissionState>;
  close(): Promise<void>;
}
