import { z } from 'zod';

/**
 * The Esign CERT_REG wire formats (see esign-api.md), as zod schemas. Shared by the client,
 * the callback listener and the sandbox so both sides agree by construction.
 *
 * Tolerant where the docs are loose: numbers that arrive as JSON strings, unknown extra
 * fields (kept out by zod's default strip), unknown reason codes (plain strings).
 */

/**
 * Esign's submission ids are UUIDs; the docs give no bound, so a generous one: an id is logged,
 * indexed and part of job ids, and an unbounded one from a caller (even an authenticated one)
 * would be a 64 KiB log line and key.
 */
const submissionIdSchema = z.string().min(1).max(256);

/** `"1800"` or `1800` → 1800. The docs' examples send numbers as strings. */
export const numeric = z
  .union([z.number(), z.string().regex(/^\d+$/, 'must be numeric')])
  .transform(Number);

export const submissionStatuses = [
  'INITIATED',
  'IN_PROGRESS',
  'PARTIALLY_COMPLETED',
  'COMPLETED',
  'ERROR',
] as const;
export type SubmissionStatus = (typeof submissionStatuses)[number];

/** `REJECTED` appears only in an older schema; accepted so it cannot crash us. */
export const submissionResults = ['VALID', 'INVALID', 'REJECTED'] as const;
export type SubmissionResult = (typeof submissionResults)[number];

/** Documented reason codes. Others are accepted as plain strings. */
export const knownReasonCodes = [
  'DUKCAPIL_REJECTED',
  'DUKCAPIL_SYSTEM_ERROR',
  'DUKCAPIL_IRRETRIEVABLE_ERROR',
  'EMAIL_HAS_BEEN_USED',
  'PHONE_HAS_BEEN_USED',
  'SYSTEM_ERROR',
  'AETHER_VERIFICATION_FAILED',
  'LIVENESS_CHECK_FAILED',
  'FRAUD_REJECT',
  'NOT_EKTP',
] as const;
export type KnownReasonCode = (typeof knownReasonCodes)[number];

export const errorEnvelopeSchema = z.object({
  success: z.literal(false),
  errors: z
    .array(z.object({ code: z.coerce.string(), cause: z.string(), entity: z.string().optional() }))
    .default([]),
});

export const tokenResponseSchema = z.object({
  success: z.literal(true),
  data: z.object({
    token: z.string().min(1),
    expiry_seconds: numeric,
    /** Absent in an older spec revision; then derived from expiry_seconds. */
    expires_at: numeric.optional(),
  }),
});

const presignedDocumentSchema = z.object({
  documentUrl: z.url(),
  documentReference: z.string().min(1),
  expiryInSeconds: numeric,
});

export const createSubmissionResponseSchema = z.object({
  success: z.literal(true),
  data: z.object({
    submissionId: submissionIdSchema,
    status: z.string(),
    documents: z.object({ KTP: presignedDocumentSchema, SELFIE: presignedDocumentSchema }),
  }),
});
export type CreateSubmissionResponse = z.infer<typeof createSubmissionResponseSchema>;

export const confirmResponseSchema = z.object({
  success: z.literal(true),
  data: z.object({ submissionId: submissionIdSchema }),
});

const checkSchema = z.string();

export const submissionDetailsSchema = z.object({
  verificationResult: z
    .object({
      nik: checkSchema.optional(),
      name: checkSchema.optional(),
      dateOfBirth: checkSchema.optional(),
      selfie: checkSchema.optional(),
    })
    .optional(),
  registrationId: z.string().optional(),
  eligibleToActivate: z.boolean().optional(),
  onboardingCode: z.string().optional(),
  shouldSkipActivation: z.boolean().optional(),
});

/** A submission's state: the callback body, and the poll response's `data`. */
export const submissionStateSchema = z.object({
  submissionId: submissionIdSchema,
  flow: z.string().optional(),
  userId: z.string().optional(),
  userIdType: z.string().optional(),
  partnerSessionId: z.string().optional(),
  status: z.enum(submissionStatuses),
  result: z.enum(submissionResults).optional().nullable(),
  processedAt: z.string().optional().nullable(),
  reasonCode: z.string().optional().nullable(),
  submissionDetails: submissionDetailsSchema.optional().nullable(),
});
export type SubmissionState = z.infer<typeof submissionStateSchema>;

export const pollResponseSchema = z.object({
  success: z.literal(true),
  data: submissionStateSchema,
});

/** The confirm-upload body we send (§6). The NIK stays a 16-digit string until serialised. */
export const confirmMetadataSchema = z.object({
  userDetails: z.object({
    name: z.string().min(1),
    nik: z.string().regex(/^\d{16}$/),
    dateOfBirth: z.string(),
    email: z.string().optional(),
    phoneNumber: z.string().optional(),
    dataVerification: z.record(
      z.string(),
      z.object({ isVerified: z.boolean(), verificationReferenceId: z.string().optional() }),
    ),
  }),
  userLocale: z.string().optional(),
  consentData: z.array(z.record(z.string(), z.unknown())),
  additionalData: z.record(z.string(), z.unknown()).optional(),
});
export type ConfirmMetadata = z.infer<typeof confirmMetadataSchema>;

export const documentTypes = ['KTP', 'SELFIE'] as const;
export type DocumentType = (typeof documentTypes)[number];
