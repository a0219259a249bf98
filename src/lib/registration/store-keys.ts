import { createHash } from 'node:crypto';
import type { CheckDocument } from '../images/source.ts';
import type { RegistrationStatus } from './record.ts';
import { statusIndexKey } from './status-index.ts';
import { timersKey } from './timers.ts';

/**
 * The names of a registration's keys, all under the queue prefix, so a hash-tagged prefix
 * keeps them in one slot (a Cluster runs the store's scripts over several of them at once):
 *   <p>:registration:<id>                            the record
 *   <p>:registration-by-submission:<submissionId>    → id
 *   <p>:registration-in-flight:<sha256(type, user)>  → id of the user's unfinished registration
 *   <p>:registrations-by-status:<STATUS>             ids (status-index.ts)
 *   <p>:registration-image:<id>:ktp|selfie           sealed inline images (image-store.ts)
 *   <p>:registration-timers                          ids by when they next wake (timers.ts)
 */
export class StoreKeys {
  private readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  record(id: string): string {
    return `${this.prefix}:registration:${id}`;
  }

  submission(submissionId: string): string {
    return `${this.prefix}:registration-by-submission:${submissionId}`;
  }

  /** Hashed so a partner user id never appears in a key name. */
  inFlight(partnerUserIdType: string, partnerUserId: string): string {
    const digest = createHash('sha256')
      .update(`${partnerUserIdType}\0${partnerUserId}`)
      .digest('hex');
    return `${this.prefix}:registration-in-flight:${digest}`;
  }

  /** SCAN's pattern for every user's slot. */
  inFlightPattern(): string {
    return `${this.prefix}:registration-in-flight:*`;
  }

  status(status: RegistrationStatus): string {
    return statusIndexKey(this.prefix, status);
  }

  timers(): string {
    return timersKey(this.prefix);
  }

  image(id: string, doc: CheckDocument): string {
    return `${this.prefix}:registration-image:${id}:${doc}`;
  }
}
