import type { Executor } from '../audit/record-audit-event';
import { type FieldRef, loadSubjectKeyset, loadSubjectKeysets } from './field-cipher';
import type { MasterKeyring } from './master-keyring';
import { lockSubject } from './subjects';

/*
 * Free text the controller's staff write about a subject (why a request was refused or extended, why
 * data is held for a claim) can name the person: it is encrypted under the subject's contact key, like
 * the contact data, and goes with that key when the subject is erased. A record with no subject, or
 * whose subject's contact key is gone, keeps no text: there is no key to keep it under, and creating
 * one for an erased subject would undo the erasure.
 */

/** The text encrypted for `ref`'s row, or null when it cannot be kept (see above). */
export async function encryptSubjectText(
  executor: Executor,
  keyring: MasterKeyring,
  subjectId: string | null,
  ref: FieldRef,
  text: string,
): Promise<Buffer | null> {
  if (subjectId === null) return null;
  // Held until commit: an erasure holding the subject (FOR UPDATE) is waited for, and then its key is
  // seen destroyed, rather than a text written under a key it is destroying, past its nulling.
  await lockSubject(executor, subjectId, 'key share');
  const keys = await loadSubjectKeyset(executor, keyring, subjectId);
  if (keys.isDestroyed('contact')) return null;
  return keys.encrypt('contact', ref, text);
}

export interface StoredSubjectText {
  subjectId: string | null;
  ref: FieldRef;
  ciphertext: Buffer | null;
}

/** The texts, in order; null where none was kept or the subject's contact key is gone. */
export async function decryptSubjectTexts(
  executor: Executor,
  keyring: MasterKeyring,
  texts: readonly StoredSubjectText[],
): Promise<(string | null)[]> {
  const subjectIds = texts.flatMap((text) =>
    text.ciphertext !== null && text.subjectId !== null ? [text.subjectId] : [],
  );
  const keysets = await loadSubjectKeysets(executor, keyring, subjectIds);
  return texts.map(({ subjectId, ref, ciphertext }) => {
    const keys = subjectId === null ? undefined : keysets.get(subjectId);
    if (ciphertext === null || !keys || keys.isDestroyed('contact')) return null;
    return keys.decrypt('contact', ref, ciphertext);
  });
}
