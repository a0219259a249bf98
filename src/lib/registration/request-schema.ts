import { z } from 'zod';
import { imageSourceSchema } from '../images/index.ts';

/**
 * The registration request other services enqueue: the contract of this package.
 * Validation lists every problem by field and never echoes a value (they are PII).
 * `schema/registration-request.schema.json` is generated from this (npm run schema).
 */

const NIK_AS_NUMBER =
  'must be a string of 16 digits, not a number: a JSON number cannot carry every NIK exactly (e.g. 9471020101900001)';

export const nikSchema = z
  .string({
    error: (issue) =>
      typeof issue.input === 'number' ? NIK_AS_NUMBER : 'must be a string of 16 digits',
  })
  .regex(/^\d{16}$/, 'must be exactly 16 digits');

/** `DD-MM-YYYY`, and a date that exists (no 31-02-1990). */
export const dateOfBirthSchema = z
  .string()
  .regex(/^\d{2}-\d{2}-\d{4}$/, 'must be DD-MM-YYYY')
  .refine(isRealDate, 'must be a real calendar date');

function isRealDate(text: string): boolean {
  const [day, month, year] = text.split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return (
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
  );
}

const verificationSchema = z
  .object({
    isVerified: z.boolean(),
    verificationReferenceId: z.string().min(1).max(128).optional(),
  })
  .refine((v) => !v.isVerified || v.verificationReferenceId !== undefined, {
    message: 'verificationReferenceId is required when isVerified is true',
    path: ['verificationReferenceId'],
  });

export const userDetailsSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    nik: nikSchema,
    dateOfBirth: dateOfBirthSchema,
    email: z.email().max(254).optional(),
    /** International form without `+`, e.g. 628123456789 (as the docs show). */
    phoneNumber: z
      .string()
      .regex(
        /^[1-9]\d{7,14}$/,
        'must be digits in international form without "+", e.g. 628123456789',
      )
      .optional(),
    dataVerification: z
      .object({ email: verificationSchema.optional(), phoneNumber: verificationSchema.optional() })
      .default({}),
  })
  .superRefine((details, ctx) => {
    if (details.email === undefined && details.phoneNumber === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'at least one of email or phoneNumber is required',
        path: ['email'],
      });
    for (const contact of ['email', 'phoneNumber'] as const) {
      if (details[contact] !== undefined && details.dataVerification[contact] === undefined)
        ctx.addIssue({
          code: 'custom',
          message: `dataVerification.${contact} is required when ${contact} is given`,
          path: ['dataVerification', contact],
        });
    }
  });

const consentSchema = z.looseObject({
  entity: z.string().min(1),
  consentType: z.string().min(1),
  consentGiven: z.literal(true, { error: 'must be true: Esign needs the user to have consented' }),
  details: z.record(z.string(), z.object({ url: z.string(), text: z.string() })),
  /** Epoch seconds, as the docs' example (`1725603017`), not milliseconds. */
  timeStamp: z
    .number()
    .int()
    .min(1_000_000_000)
    .max(9_999_999_999, 'must be epoch seconds, not milliseconds'),
  additionalDetails: z
    .looseObject({
      userAgent: z.string().optional(),
      userIp: z.string().optional(),
      deviceDetails: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
});

export const registrationIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z, a-z, 0-9, "_" or "-"');

/** Header-safe: sent as x-partner-user-id / x-partner-user-id-type. */
const headerValue = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

export const registrationRequestSchema = z.object({
  registrationId: registrationIdSchema.optional(),
  partnerUserId: headerValue,
  partnerUserIdType: headerValue.optional(),
  images: z.object({ ktp: imageSourceSchema, selfie: imageSourceSchema }),
  userDetails: userDetailsSchema,
  userLocale: z.enum(['en_ID', 'id_ID']).optional(),
  consentData: z.array(consentSchema).min(1, 'at least one consent is required'),
  additionalData: z.record(z.string(), z.unknown()).optional(),
});

export type RegistrationRequestInput = z.input<typeof registrationRequestSchema>;
export type RegistrationRequest = z.output<typeof registrationRequestSchema>;
