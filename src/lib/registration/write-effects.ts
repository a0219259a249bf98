import { statusRank, type RegistrationRecord } from './record.ts';
import { timerArg, wakeAt } from './timers.ts';

/**
 * What a write of the record implies besides the record, done by the store in the same
 * compare-and-set script (store-scripts.ts), so no crash can come between the record saying
 * it and it being so:
 *   - `dropImages`: the record first reaches UPLOADED (or past it), a confirmation or an end,
 *     after which no step reads the images; an UPLOADED record never has them;
 *   - `ends`: the registration ends with this write, so the user's slot is freed (if this
 *     registration still holds it) and the images go;
 *   - `newSubmissionId`: a submission the record did not have, indexed for its callbacks;
 *   - `timer`: the registration's timer moves with its pending poll and deadline (timers.ts).
 */
export interface WriteEffects {
  dropImages: boolean;
  ends: boolean;
  newSubmissionId: string | undefined;
  /** timerArg: '' unchanged, '-' removed, else the time it wakes. */
  timer: string;
}

export function writeEffects(
  current: RegistrationRecord,
  written: RegistrationRecord,
): WriteEffects {
  const ends = written.result !== undefined && current.result === undefined;
  // The images go with the first write after which no step reads them: the one reaching
  // UPLOADED, else a confirmation (adopted before both were uploaded), else the end. Once one of
  // those was written they are gone, so later writes leave them alone.
  const uploaded = statusRank('UPLOADED');
  const stillNeeded = statusRank(current.status) < uploaded && current.confirmedAt === undefined;
  const dropImages =
    stillNeeded &&
    (ends || statusRank(written.status) >= uploaded || written.confirmedAt !== undefined);
  const submissionId = written.submission?.submissionId;
  const isNew = submissionId !== undefined && submissionId !== current.submission?.submissionId;
  return {
    dropImages,
    ends,
    newSubmissionId: isNew ? submissionId : undefined,
    timer: timerArg(wakeAt(current), wakeAt(written)),
  };
}
