import { randomUUID } from 'node:crypto';
import type { DocumentType } from '../src/lib/esign/schemas.ts';
import type { ScenarioName, SubmissionSnapshot } from './types.ts';
import type { VerificationResult } from './scenarios.ts';

/**
 * The sandbox's memory of submissions: who created them, what was uploaded, what was
 * confirmed and where processing stands. In memory on purpose: a sandbox restart is a
 * clean slate.
 */

export interface StoredDocument {
  /** `<uuid>_<TYPE>`, the object key under CERT_REG/. Each document has its own uuid, as in the docs' example. */
  reference: string;
  uploaded: boolean;
  /** SHA-256 (hex) of the last body stored, so tests can check uploads byte for byte. */
  sha256: string | null;
}

export interface Submission {
  submissionId: string;
  userId: string;
  userIdType: string;
  /** The create call's x-partner-session-id: what callbacks and polls report as partnerSessionId. */
  partnerSessionId: string;
  documents: Record<DocumentType, StoredDocument>;
  status: 'INITIATED' | 'IN_PROGRESS' | 'PARTIALLY_COMPLETED' | 'COMPLETED' | 'ERROR';
  result: 'VALID' | 'INVALID' | null;
  reasonCode: string | null;
  processedAt: string | null;
  verificationResult: VerificationResult | null;
  registrationId: string | null;
  scenario: ScenarioName | null;
  confirmCount: number;
  nikRaw: string | null;
  nikJsonType: 'number' | 'string' | null;
  sessionIds: string[];
  bytes: number;
}

/** The wire shape shared by the poll's `data` and the callback body. */
export interface SubmissionStateBody {
  submissionId: string;
  flow: 'CERT_REG';
  userId: string;
  userIdType: string;
  partnerSessionId: string;
  status: Submission['status'];
  result?: 'VALID' | 'INVALID';
  processedAt?: string;
  reasonCode?: string;
  submissionDetails?: {
    verificationResult: VerificationResult;
    registrationId?: string;
    eligibleToActivate: boolean;
    onboardingCode: 'NEW_USER';
    shouldSkipActivation: boolean;
  };
}

export class SubmissionStore {
  private readonly byId = new Map<string, Submission>();
  private readonly byReference = new Map<string, { submission: Submission; type: DocumentType }>();
  /** Creation order per user: the poll answers with the user's latest submission. */
  private readonly latestByUser = new Map<string, Submission>();

  create(userId: string, userIdType: string, sessionId: string): Submission {
    const submissionId = randomUUID();
    const documents = {
      KTP: { reference: `${randomUUID()}_KTP`, uploaded: false, sha256: null },
      SELFIE: { reference: `${randomUUID()}_SELFIE`, uploaded: false, sha256: null },
    };
    const submission: Submission = {
      submissionId,
      userId,
      userIdType,
      partnerSessionId: sessionId,
      documents,
      status: 'INITIATED',
      result: null,
      reasonCode: null,
      processedAt: null,
      verificationResult: null,
      registrationId: null,
      scenario: null,
      confirmCount: 0,
      nikRaw: null,
      nikJsonType: null,
      sessionIds: [sessionId],
      bytes: 0,
    };
    this.byId.set(submissionId, submission);
    this.byReference.set(documents.KTP.reference, { submission, type: 'KTP' });
    this.byReference.set(documents.SELFIE.reference, { submission, type: 'SELFIE' });
    this.latestByUser.set(userKey(userId, userIdType), submission);
    return submission;
  }

  get(submissionId: string): Submission | undefined {
    return this.byId.get(submissionId);
  }

  byDocumentReference(
    reference: string,
  ): { submission: Submission; type: DocumentType } | undefined {
    return this.byReference.get(reference);
  }

  latestFor(userId: string, userIdType: string): Submission | undefined {
    return this.latestByUser.get(userKey(userId, userIdType));
  }

  snapshot(): SubmissionSnapshot[] {
    return [...this.byId.values()].map((s) => ({
      submissionId: s.submissionId,
      userId: s.userId,
      userIdType: s.userIdType,
      status: s.status,
      result: s.result,
      reasonCode: s.reasonCode,
      scenario: s.scenario,
      uploaded: { KTP: s.documents.KTP.uploaded, SELFIE: s.documents.SELFIE.uploaded },
      sha256: { KTP: s.documents.KTP.sha256, SELFIE: s.documents.SELFIE.sha256 },
      bytes: s.bytes,
      confirmCount: s.confirmCount,
      nikRaw: s.nikRaw,
      nikJsonType: s.nikJsonType,
      sessionIds: [...s.sessionIds],
    }));
  }
}

function userKey(userId: string, userIdType: string): string {
  return JSON.stringify([userId, userIdType]);
}

/** The submission as Esign reports it (poll data, callback body). Absent values are omitted. */
export function stateBody(s: Submission): SubmissionStateBody {
  const body: SubmissionStateBody = {
    submissionId: s.submissionId,
    flow: 'CERT_REG',
    userId: s.userId,
    userIdType: s.userIdType,
    partnerSessionId: s.partnerSessionId,
    status: s.status,
  };
  if (s.result) body.result = s.result;
  if (s.processedAt) body.processedAt = s.processedAt;
  if (s.reasonCode) body.reasonCode = s.reasonCode;
  if (s.verificationResult) {
    body.submissionDetails = {
      verificationResult: { ...s.verificationResult },
      ...(s.registrationId ? { registrationId: s.registrationId } : {}),
      eligibleToActivate: false,
      onboardingCode: 'NEW_USER',
      shouldSkipActivation: true,
    };
  }
  return body;
}
