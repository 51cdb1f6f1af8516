import type { Executor } from '../audit/record-audit-event';
import type { MasterKeyring } from '../crypto/master-keyring';
import { decryptSubjectTexts, encryptSubjectText } from '../crypto/subject-text';
import { resolveSubject } from './request-subject';
import type { SubjectRequestRow } from './subject-requests.schema';

/** The reasons a request's decisions carry, as written to the person (Art. 12(3), 12(4)). */
export interface RequestReasons {
  extension: string | null;
  rejection: string | null;
}

type ReasonColumn = 'extension_reason_enc' | 'rejection_reason_enc';

const reasonRef = (requestId: string, column: ReasonColumn) => ({
  table: 'subject_requests',
  column,
  rowId: requestId,
});

const reasonField = {
  extension_reason_enc: 'extensionReasonEnc',
  rejection_reason_enc: 'rejectionReasonEnc',
} as const;

/**
 * What a decision writes for its reason: the reason under the contact key of the request's subject
 * (crypto/subject-text.ts), none for a request on an e-mail nothing is held on. A request received
 * before its subject existed is tied to it here, as its execution would: the reason is read under it.
 */
export async function reasonUpdate(
  tx: Executor,
  keyring: MasterKeyring,
  row: SubjectRequestRow,
  column: ReasonColumn,
  reason: string,
): Promise<Partial<SubjectRequestRow>> {
  const subjectId = await resolveSubject(tx, row);
  const ciphertext = await encryptSubjectText(tx, keyring, subjectId, reasonRef(row.id, column), reason);
  return {
    [reasonField[column]]: ciphertext,
    ...(ciphertext && !row.subjectId ? { subjectId, emailIndex: null, emailIndexVersion: null } : {}),
  };
}

/** The reasons of these requests by request id; null where none was kept or its subject was erased. */
export async function requestReasons(
  executor: Executor,
  keyring: MasterKeyring,
  rows: readonly SubjectRequestRow[],
): Promise<Map<string, RequestReasons>> {
  const texts = await decryptSubjectTexts(
    executor,
    keyring,
    rows.flatMap((row) => [
      {
        subjectId: row.subjectId,
        ref: reasonRef(row.id, 'extension_reason_enc'),
        ciphertext: row.extensionReasonEnc,
      },
      {
        subjectId: row.subjectId,
        ref: reasonRef(row.id, 'rejection_reason_enc'),
        ciphertext: row.rejectionReasonEnc,
      },
    ]),
  );
  return new Map(
    rows.map((row, index) => [
      row.id,
      { extension: texts[2 * index] ?? null, rejection: texts[2 * index + 1] ?? null },
    ]),
  );
}
