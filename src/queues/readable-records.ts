import { isWorkerError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { RegistrationRecord } from '../lib/registration/record.ts';
import type { RegistrationStore } from '../lib/registration/store.ts';

/** What `readableRecords` gives for a record that exists but cannot be read. */
export const UNREADABLE = 'unreadable' as const;

/**
 * A batch of records: one MGET, not one GET per registration. A record that cannot be read
 * (damaged, or a newer release's: a format error) is named and passed over, one by one, so it
 * does not stop a sweep for every registration after it (`UNREADABLE`; a missing one is
 * undefined); Redis failing still throws.
 */
export async function readableRecords(
  store: RegistrationStore,
  logger: Logger,
  ids: readonly string[],
  purpose: string,
): Promise<(RegistrationRecord | typeof UNREADABLE | undefined)[]> {
  try {
    return await store.getMany(ids);
  } catch (error) {
    if (!isFormatError(error)) throw error;
  }
  return Promise.all(
    ids.map((registrationId) =>
      store.get(registrationId).catch((error: unknown) => {
        if (!isFormatError(error)) throw error;
        logger.warn({ registrationId, err: error }, `record unreadable: ${purpose}`);
        return UNREADABLE;
      }),
    ),
  );
}

const isFormatError = (error: unknown) =>
  isWorkerError(error) && (error.code === 'FORMAT_UNSUPPORTED' || error.code === 'FORMAT_TOO_NEW');
